import { dereference } from '@readme/openapi-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { OpenApiDocument } from '../../src/openapi/document.js';

type Operation = OpenAPIV3_1.OperationObject;
type ResponseObject = OpenAPIV3_1.ResponseObject;

/** An answer the service gave, as a contract check sees it. */
export interface ObservedResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, if any. */
  body: unknown;
}

/** Checks real answers against an OpenAPI document with a JSON Schema 2020-12 validator (Ajv). */
export interface Contract {
  /** The operation serving `method` on an `/api`-relative path (`/token`, `/admin/users/alice`), if documented. */
  operation(method: string, path: string): Operation | undefined;
  /** Every way `response` departs from what the document says `method path` answers; empty when it conforms. */
  violations(method: string, path: string, response: ObservedResponse): string[];
  /** The schema of a component, compiled (e.g. `Problem`). */
  component(name: string): ValidateFunction;
}

function templateMatcher(template: string): RegExp {
  const pattern = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`, 'i');
}

export async function loadContract(document: OpenApiDocument): Promise<Contract> {
  // The parser resolves every $ref in place; the served document stays untouched.
  const resolved = (await dereference(structuredClone(document) as never)) as OpenAPIV3_1.Document;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const compiled = new Map<object, ValidateFunction>();
  const compile = (schema: object) => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv.compile(schema);
      compiled.set(schema, validate);
    }
    return validate;
  };
  const paths = Object.entries(resolved.paths ?? {}).map(([template, item]) => ({
    matches: templateMatcher(template),
    literal: !template.includes('{'),
    item: item as Record<string, unknown>,
  }));

  const operation = (method: string, path: string) => {
    const candidates = paths.filter(({ matches }) => matches.test(path));
    // Literal paths win over templated ones, as in the Functions host.
    candidates.sort((a, b) => Number(b.literal) - Number(a.literal));
    return candidates.map(({ item }) => item[method.toLowerCase()] as Operation | undefined).find(Boolean);
  };

  return {
    operation,
    component(name) {
      const schema = resolved.components?.schemas?.[name];
      if (!schema) throw new Error(`no component schema ${name}`);
      return compile(schema);
    },
    violations(method, path, { status, headers, body }) {
      const found = operation(method, path);
      if (!found) return [`${method} ${path} is not documented`];
      const documented = found.responses?.[String(status)] as ResponseObject | undefined;
      if (!documented) {
        return [
          `${method} ${path} answered ${status}, documented: ${Object.keys(found.responses ?? {}).join(', ')}`,
        ];
      }
      const problems: string[] = [];
      for (const [name, header] of Object.entries(documented.headers ?? {})) {
        if ((header as OpenAPIV3_1.HeaderObject).required && !headers.has(name)) {
          problems.push(`${method} ${path} ${status}: header ${name} is documented as always present`);
        }
      }
      const contentType = headers.get('content-type')?.split(';')[0]?.trim();
      if (!documented.content) {
        if (body !== undefined) problems.push(`${method} ${path} ${status}: a body where none is documented`);
        return problems;
      }
      const media = contentType ? documented.content[contentType] : undefined;
      if (!media?.schema) {
        problems.push(`${method} ${path} ${status}: content type ${contentType} is not documented`);
        return problems;
      }
      const validate = compile(media.schema);
      if (!validate(body)) {
        problems.push(
          `${method} ${path} ${status}: body departs from the schema: ${ajv.errorsText(validate.errors)}`,
        );
      }
      return problems;
    },
  };
}

/** Reads a fetch Response for a contract check (the body is consumed). */
export async function observe(response: Response): Promise<ObservedResponse> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
