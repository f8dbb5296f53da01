import { z } from 'zod';
import packageJson from '../../package.json' with { type: 'json' };
import {
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type ProblemType,
  problemDocumentSchema,
  problemTypes,
} from '../http/problem.js';
import { isCatchAll } from '../http/route-table.js';
import type { OperationDocs, RouteDocs, SuccessResponseDocs } from './route-docs.js';

type JsonSchema = z.core.JSONSchema.JSONSchema;

/** What the generator reads of a route table entry (src/http/route-table.ts's RouteDefinition). */
export interface DocumentedRoute {
  readonly name: string;
  readonly methods: readonly string[];
  readonly route: string;
  readonly handler: { readonly verifiesCaller?: true };
  readonly docs?: RouteDocs;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  tags: { name: string }[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, Record<string, string>>;
    responses: Record<string, ResponseObject>;
  };
}

type PathItem = Record<string, unknown> & { parameters?: ParameterObject[] };

interface ParameterObject {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; required?: boolean; schema: JsonSchema }>;
  content?: Record<string, { schema: JsonSchema }>;
}

export const BEARER_SCHEME = 'bearerAuth';
const PROBLEM_SCHEMA_REF = '#/components/schemas/Problem';
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Every request passes the pipeline: body size, rate limit, settings, and its last-resort error answer. */
const PIPELINE_PROBLEMS: readonly ProblemType[] = ['payload-too-large', 'internal', 'misconfigured'];
const EVERY_ROUTE_PROBLEMS: readonly ProblemType[] = [...PIPELINE_PROBLEMS, 'too-many-requests'];
/** A route that verifies its caller: a bad token, a missing AUTH_REQUIRED_SCOPE, an issuer whose keys are down. */
const CALLER_PROBLEMS: readonly ProblemType[] = ['unauthenticated', 'forbidden', 'unavailable'];
const BODY_PROBLEMS: readonly ProblemType[] = ['invalid-request', 'unsupported-media-type'];
const QUERY_PROBLEMS: readonly ProblemType[] = ['invalid-request'];

/** Headers a problem type comes with; `always` when every problem of that type carries it. */
const PROBLEM_HEADERS: Partial<Record<ProblemType, { name: string; description: string; always: boolean }>> =
  {
    unauthenticated: {
      name: 'WWW-Authenticate',
      description: '`Bearer`, with `error="invalid_token"` when a token was sent.',
      always: true,
    },
    forbidden: {
      name: 'WWW-Authenticate',
      description: '`Bearer error="insufficient_scope"` when the token lacks AUTH_REQUIRED_SCOPE.',
      always: false,
    },
    'too-many-requests': {
      name: 'Retry-After',
      description: 'Seconds to wait before retrying.',
      always: true,
    },
    unavailable: { name: 'Retry-After', description: 'Seconds to wait before retrying.', always: true },
    'method-not-allowed': { name: 'Allow', description: 'The methods the route answers.', always: true },
    'unsupported-media-type': {
      name: 'Accept-Post',
      description: 'The media type the body must have.',
      always: true,
    },
  };

/** A zod schema as an OpenAPI 3.1 Schema Object (JSON Schema 2020-12, the dialect OpenAPI 3.1 uses). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...converted } = z.toJSONSchema(schema, { target: 'draft-2020-12', io });
  return converted;
}

const TEMPLATE_PARAMETER = /\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\??\}/g;

/** The one value a parameter schema allows (`z.literal('admin')`), if it allows only one. */
function onlyValue(schema: JsonSchema): string | undefined {
  const value = schema.const ?? (schema.enum?.length === 1 ? schema.enum[0] : undefined);
  return typeof value === 'string' ? value : undefined;
}

/**
 * A Functions route template (`users/{userId}`, `{id:int}`, `{id?}`) as an OpenAPI path and its parameters. A
 * parameter whose schema allows one value only is written as that literal segment (the admin routes' `{area}`,
 * which the host needs because it reserves templates starting with `admin`).
 */
export function toOpenApiPath(route: DocumentedRoute): { path: string; parameters: ParameterObject[] } {
  const names = [...route.route.matchAll(TEMPLATE_PARAMETER)].map((match) => match[1]!);
  const declared = objectParameters(route.docs?.params, names, 'path');
  const literals = new Map(
    declared.flatMap((parameter) => {
      const value = onlyValue(parameter.schema);
      return value === undefined ? [] : [[parameter.name, value] as const];
    }),
  );
  const path = route.route
    .split('/')
    .filter((segment) => segment.length > 0)
    .map((segment) =>
      segment.replace(TEMPLATE_PARAMETER, (_match, name: string) => literals.get(name) ?? `{${name}}`),
    )
    .join('/');
  return { path: `/${path}`, parameters: declared.filter((parameter) => !literals.has(parameter.name)) };
}

function objectParameters(
  schema: z.ZodObject | undefined,
  names: readonly string[] | undefined,
  location: 'path' | 'query',
): ParameterObject[] {
  const converted = schema ? jsonSchema(schema, 'input') : undefined;
  const properties = (converted?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(converted?.required ?? []);
  return (names ?? Object.keys(properties)).map((name) => {
    const { description, ...property } = properties[name] ?? { type: 'string' };
    return {
      name,
      in: location,
      // OpenAPI requires path parameters; a Functions template has no empty segments either.
      required: location === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: property,
    };
  });
}

function successResponse({ description, body, headers }: SuccessResponseDocs): ResponseObject {
  return {
    description,
    ...(headers
      ? {
          headers: Object.fromEntries(
            Object.entries(headers).map(([name, text]) => [
              name,
              { description: text, schema: { type: 'string' } },
            ]),
          ),
        }
      : {}),
    ...(body ? { content: { 'application/json': { schema: jsonSchema(body, 'output') } } } : {}),
  };
}

/** One response per status, whose body is a problem document of one of the types listed for that status. */
function problemResponses(types: readonly ProblemType[]): Record<string, ResponseObject> {
  const byStatus = new Map<number, ProblemType[]>();
  for (const type of new Set(types)) {
    const { status } = problemTypes[type];
    byStatus.set(status, [...(byStatus.get(status) ?? []), type]);
  }
  const responses: Record<string, ResponseObject> = {};
  for (const [status, kinds] of [...byStatus].sort(([a], [b]) => a - b)) {
    const headers: NonNullable<ResponseObject['headers']> = {};
    for (const kind of kinds) {
      const header = PROBLEM_HEADERS[kind];
      if (!header) continue;
      const always = kinds.every(
        (other) => PROBLEM_HEADERS[other]?.name === header.name && PROBLEM_HEADERS[other]?.always,
      );
      headers[header.name] = {
        description: header.description,
        required: always,
        schema: { type: 'string' },
      };
    }
    responses[String(status)] = {
      description: kinds.map((kind) => `\`${kind}\`: ${problemTypes[kind].title}.`).join(' '),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: {
        [PROBLEM_CONTENT_TYPE]: {
          schema: {
            allOf: [
              { $ref: PROBLEM_SCHEMA_REF },
              {
                properties: {
                  type: { enum: kinds.map((kind) => `${PROBLEM_TYPE_BASE}${kind}`) },
                  status: { const: status },
                },
              },
            ],
          },
        },
      },
    };
  }
  return responses;
}

function operationId(route: DocumentedRoute, method: string, documentedMethods: readonly string[]): string {
  if (method === 'OPTIONS') return `${route.name}Preflight`;
  return documentedMethods.length === 1
    ? route.name
    : `${route.name}${method.charAt(0)}${method.slice(1).toLowerCase()}`;
}

function operation(route: DocumentedRoute, method: string, documentedMethods: readonly string[]) {
  const docs: Partial<OperationDocs> = {
    ...route.docs,
    ...route.docs?.methods?.[method as keyof NonNullable<RouteDocs['methods']>],
  };
  const verifiesCaller = route.handler.verifiesCaller === true;
  const body = BODY_METHODS.has(method) ? docs.body : undefined;
  const query = BODY_METHODS.has(method) ? undefined : docs.query;
  const problems = [
    ...EVERY_ROUTE_PROBLEMS,
    ...(verifiesCaller ? CALLER_PROBLEMS : []),
    ...(body ? BODY_PROBLEMS : []),
    ...(query ? QUERY_PROBLEMS : []),
    ...(docs.problems ?? []),
  ];
  const success = Object.entries(docs.responses ?? {}).map(([status, response]) => [
    status,
    successResponse(response),
  ]);
  return {
    operationId: operationId(route, method, documentedMethods),
    summary: docs.summary ?? route.name,
    ...(docs.description ? { description: docs.description } : {}),
    ...(route.docs?.tags ? { tags: [...route.docs.tags] } : {}),
    security: verifiesCaller ? [{ [BEARER_SCHEME]: [] }] : [],
    ...(query ? { parameters: objectParameters(query, undefined, 'query') } : {}),
    ...(body
      ? {
          requestBody: {
            required: body.required,
            content: { 'application/json': { schema: jsonSchema(body.schema, 'input') } },
          },
        }
      : {}),
    responses: {
      // An undocumented route still shows its derived answers; the route table test refuses it.
      ...(success.length > 0 ? Object.fromEntries(success) : { '2XX': { description: 'Success.' } }),
      ...problemResponses(problems),
    },
  };
}

/** Every route answers OPTIONS itself (src/http/cors.ts) before the rate limit or authentication run. */
function preflightOperation(route: DocumentedRoute) {
  return {
    operationId: operationId(route, 'OPTIONS', []),
    summary: 'CORS preflight',
    description:
      'Answered by the service for every route. An origin listed in APP_CORS_ALLOWED_ORIGINS gets the ' +
      '`Access-Control-Allow-*` headers; any other origin gets none, so the browser refuses the call.',
    ...(route.docs?.tags ? { tags: [...route.docs.tags] } : {}),
    security: [],
    responses: {
      '204': {
        description: 'The methods of the route, and for an allowed origin what it may send.',
        headers: Object.fromEntries(
          [
            ['Allow', 'The methods of the route.', true],
            ['Access-Control-Allow-Origin', 'The calling origin, when it is allowed.', false],
            ['Access-Control-Allow-Methods', 'The methods an allowed origin may use.', false],
            ['Access-Control-Allow-Headers', '`Authorization, Content-Type`.', false],
            ['Access-Control-Max-Age', 'How long the browser may reuse this answer, in seconds.', false],
          ].map(([name, description, required]) => [
            name as string,
            { description: description as string, required: required as boolean, schema: { type: 'string' } },
          ]),
        ),
      },
      ...problemResponses(PIPELINE_PROBLEMS),
    },
  };
}

/** Adds a route's operations to the path item it shares with the other routes of the same path, if any. */
function addOperations(item: PathItem, route: DocumentedRoute, parameters: ParameterObject[]): void {
  const methods = route.methods.filter((method) => method !== 'OPTIONS');
  if (parameters.length > 0) item.parameters = parameters;
  for (const method of methods) item[method.toLowerCase()] = operation(route, method, methods);
  if (route.methods.includes('OPTIONS')) item.options ??= preflightOperation(route);
}

/**
 * The OpenAPI 3.1 document of a route table, built from the zod schemas the handlers validate with (requests as
 * their input type, responses as their output type). It reads no setting: it is the same for every deployment.
 */
export function buildOpenApiDocument(routes: readonly DocumentedRoute[]): OpenApiDocument {
  const paths: Record<string, PathItem> = {};
  const tags = new Set<string>();
  for (const route of routes.filter((candidate) => !isCatchAll(candidate))) {
    const { path, parameters } = toOpenApiPath(route);
    paths[path] ??= {};
    addOperations(paths[path], route, parameters);
    for (const tag of route.docs?.tags ?? []) tags.add(tag);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ACS trusted token service',
      version: packageJson.version,
      description:
        `${packageJson.description}\n\nEvery error is an RFC 9457 problem document (\`${PROBLEM_CONTENT_TYPE}\`) ` +
        'carrying the invocation id of the request. A path no route serves answers 404, and a known path asked ' +
        'with another method answers 405 with `Allow`.',
    },
    servers: [{ url: '/api', description: 'This deployment (host.json routePrefix `api`).' }],
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      schemas: { Problem: jsonSchema(problemDocumentSchema, 'output') },
      securitySchemes: {
        [BEARER_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An access token from the identity provider the service trusts (AUTH_ISSUER, AUTH_AUDIENCE). ' +
            'Behind App Service Authentication (AUTH_MODE=easyauth) the platform verifies the caller instead.',
        },
      },
      responses: {
        NotFound: problemResponses(['not-found'])['404']!,
        MethodNotAllowed: problemResponses(['method-not-allowed'])['405']!,
      },
    },
  };
}
