import { compileErrors, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { tokenRequestBodySchema } from '../../../src/functions/issue-token.js';
import {
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type ProblemType,
  problem,
  problemDocumentSchema,
  problemTypes,
} from '../../../src/http/problem.js';
import { isCatchAll } from '../../../src/http/route-table.js';
import {
  BEARER_SCHEME,
  buildOpenApiDocument,
  type DocumentedRoute,
  type OpenApiDocument,
  toOpenApiPath,
} from '../../../src/openapi/document.js';
import { routes } from '../../../src/routes.js';
import { loadContract } from '../../support/openapi-contract.js';

interface Operation {
  operationId: string;
  security: unknown[];
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { required: boolean; content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema: { allOf?: unknown[] } }> }>;
}

const document = buildOpenApiDocument(routes);
const documentedRoutes = routes.filter((route) => !isCatchAll(route));

function operationOf(doc: OpenApiDocument, route: DocumentedRoute, method: string): Operation | undefined {
  return doc.paths[toOpenApiPath(route).path]?.[method.toLowerCase()] as Operation | undefined;
}

async function expectValid(doc: OpenApiDocument) {
  // The parser dereferences what it validates: give it a copy.
  const result = await validate(structuredClone(doc) as never);
  expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  expect(result.specification).toBe('OpenAPI');
}

describe('the OpenAPI document of the route table', () => {
  it('is a valid OpenAPI 3.1 document per @readme/openapi-parser', async () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([expect.objectContaining({ url: '/api' })]);
    expect(document.components.securitySchemes[BEARER_SCHEME]).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    await expectValid(document);
  });

  it('has a description for every route but the catch-all', () => {
    const undocumented = documentedRoutes
      .filter((route) => route.docs === undefined)
      .map((route) => route.name);
    expect(undocumented, `routes without docs in src/routes.ts: ${undocumented.join(', ')}`).toEqual([]);
    for (const route of documentedRoutes) {
      expect(route.docs?.summary.trim().length, `${route.name} has an empty summary`).toBeGreaterThan(0);
      expect(Object.keys(route.docs?.responses ?? {}), `${route.name} documents no success`).not.toEqual([]);
    }
  });

  it('has every method of every route, each with its own operation id', () => {
    const ids: string[] = [];
    for (const route of documentedRoutes) {
      for (const method of route.methods) {
        const operation = operationOf(document, route, method);
        expect(operation, `${method} ${route.route} (${route.name})`).toBeDefined();
        if (method !== 'OPTIONS') ids.push(operation!.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    const catchAll = routes.find(isCatchAll);
    expect(Object.keys(document.paths).some((path) => path.includes(catchAll?.route ?? '{*'))).toBe(false);
  });

  it('lists the answers of each operation, every error as a problem document', () => {
    for (const route of documentedRoutes) {
      for (const method of route.methods.filter((name) => name !== 'OPTIONS')) {
        const operation = operationOf(document, route, method)!;
        const where = `${method} ${route.route}`;
        const statuses = Object.keys(operation.responses);
        const docs = { ...route.docs, ...route.docs?.methods?.[method] };
        for (const status of Object.keys(docs.responses ?? {})) expect(statuses, where).toContain(status);

        // What every route can answer, and what follows from verifying the caller, a body or a query.
        expect(statuses, where).toEqual(expect.arrayContaining(['413', '429', '500', '503']));
        if (route.handler.verifiesCaller) {
          expect(statuses, where).toEqual(expect.arrayContaining(['401', '403']));
          expect(operation.security, where).toEqual([{ [BEARER_SCHEME]: [] }]);
        } else {
          expect(operation.security, where).toEqual([]);
        }
        if (operation.requestBody) expect(statuses, where).toEqual(expect.arrayContaining(['400', '415']));
        if (operation.parameters?.some((parameter) => parameter.in === 'query')) {
          expect(statuses, where).toContain('400');
        }
        for (const problemType of docs.problems ?? []) {
          expect(statuses, `${where} lists ${problemType}`).toContain(
            String(problemTypes[problemType].status),
          );
        }

        for (const status of statuses.filter((code) => Number(code) >= 400)) {
          const content = operation.responses[status]!.content ?? {};
          expect(Object.keys(content), `${where} ${status}`).toEqual([PROBLEM_CONTENT_TYPE]);
          expect(content[PROBLEM_CONTENT_TYPE]!.schema.allOf?.[0]).toEqual({
            $ref: '#/components/schemas/Problem',
          });
        }
      }
    }
  });

  it('documents the request body and query of the token endpoint with the schemas the handler parses', () => {
    const issueToken = routes.find((route) => route.name === 'issueToken')!;
    const post = operationOf(document, issueToken, 'POST')!;
    expect(post.requestBody).toMatchObject({ required: false, content: { 'application/json': {} } });
    expect(post.parameters).toBeUndefined();
    const get = operationOf(document, issueToken, 'GET')!;
    expect(get.requestBody).toBeUndefined();
    expect(get.parameters?.map(({ name, in: location, required }) => ({ name, location, required }))).toEqual(
      [
        { name: 'scopes', location: 'query', required: false },
        { name: 'expiresInMinutes', location: 'query', required: false },
      ],
    );
  });

  it('accepts every body the handler accepts, and refuses what the schema itself refuses', () => {
    const bodySchema = (
      (document.paths['/token']!.post as Operation).requestBody!.content['application/json'] as {
        schema: object;
      }
    ).schema;
    const samples: unknown[] = [
      {},
      { scopes: ['chat'] },
      { scopes: ['chat', 'voip'], expiresInMinutes: 1440 },
      { expiresInMinutes: 60 },
      { expiresInMinutes: 59 },
      { expiresInMinutes: 60.5 },
      { expiresInMinutes: '60' },
      { scopes: [] },
      { scopes: 'chat' },
      { scope: ['chat'] },
      [],
      'chat',
    ];
    const check = new Ajv2020({ strict: false }).compile(bodySchema);
    for (const sample of samples) {
      expect(check(sample), JSON.stringify(sample)).toBe(tokenRequestBodySchema.safeParse(sample).success);
    }
    // A refinement (a known ACS scope) stays in the handler: the document is never stricter than it.
    expect(check({ scopes: ['unknown-scope'] })).toBe(true);
    expect(tokenRequestBodySchema.safeParse({ scopes: ['unknown-scope'] }).success).toBe(false);
  });

  it('describes problems with the schema every problem document is built from', async () => {
    const contract = await loadContract(document);
    const validateProblem = contract.component('Problem');
    for (const type of Object.keys(problemTypes) as ProblemType[]) {
      const { jsonBody, status } = problem({
        type,
        detail: 'A detail.',
        invocationId: '6f0c3f0e-8d0e-4a57-9b6f-1f7f4d6c2a11',
        ...(type === 'invalid-request' ? { errors: [{ name: 'scopes', reason: 'is invalid' }] } : {}),
      });
      expect(problemDocumentSchema.parse(jsonBody)).toMatchObject({
        type: `${PROBLEM_TYPE_BASE}${type}`,
        status,
      });
      expect(validateProblem(jsonBody), `${type}: ${JSON.stringify(validateProblem.errors)}`).toBe(true);
    }
    expect(validateProblem({ type: 'x', title: 't', status: 400 })).toBe(false);
  });

  it('narrows each problem response to the types that status can carry', async () => {
    const contract = await loadContract(document);
    const unauthenticated = problem({ type: 'unauthenticated', detail: 'No token.', invocationId: 'id' });
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
      status,
      headers: new Headers({ 'Content-Type': PROBLEM_CONTENT_TYPE, ...headers }),
      body,
    });
    expect(
      contract.violations(
        'POST',
        '/token',
        answer(401, unauthenticated.jsonBody, { 'WWW-Authenticate': 'Bearer' }),
      ),
    ).toEqual([]);
    // The same document under another status, or without its always-present header, departs from the contract.
    expect(contract.violations('POST', '/token', answer(403, unauthenticated.jsonBody))).not.toEqual([]);
    expect(contract.violations('POST', '/token', answer(401, unauthenticated.jsonBody))).toEqual([
      'POST /token 401: header WWW-Authenticate is documented as always present',
    ]);
    expect(contract.violations('GET', '/health', answer(401, unauthenticated.jsonBody))[0]).toMatch(
      /answered 401, documented/,
    );
  });
});

describe('buildOpenApiDocument', () => {
  const handler = Object.assign(async () => ({ status: 204 }), { verifiesCaller: true as const });

  it('writes a parameter that allows one value as a literal segment, and documents the others', async () => {
    const doc = buildOpenApiDocument([
      {
        name: 'eraseUser',
        methods: ['DELETE', 'OPTIONS'],
        route: '{area}/users/{userId:alpha}',
        handler,
        docs: {
          summary: 'Erase a user',
          params: z.object({
            area: z.literal('admin'),
            userId: z.string().min(1).meta({ description: 'The application user id.' }),
          }),
          responses: { 204: { description: 'Erased.' } },
          problems: ['not-found'],
        },
      },
    ]);
    await expectValid(doc);
    const item = doc.paths['/admin/users/{userId}'];
    expect(item?.parameters).toEqual([
      {
        name: 'userId',
        in: 'path',
        required: true,
        description: 'The application user id.',
        schema: { type: 'string', minLength: 1 },
      },
    ]);
    expect(Object.keys(item ?? {}).sort()).toEqual(['delete', 'options', 'parameters']);
    expect(Object.keys((item!.delete as Operation).responses)).toContain('404');
  });

  it('still yields a valid document for a route without docs, with only its derived answers', async () => {
    const doc = buildOpenApiDocument([{ name: 'bare', methods: ['GET'], route: 'bare', handler }]);
    await expectValid(doc);
    const operation = doc.paths['/bare']?.get as Operation;
    expect(Object.keys(operation.responses).sort()).toEqual([
      '2XX',
      '401',
      '403',
      '413',
      '429',
      '500',
      '503',
    ]);
  });

  it('merges routes that share a path into one path item', () => {
    const doc = buildOpenApiDocument([
      { name: 'readThing', methods: ['GET', 'OPTIONS'], route: 'thing', handler },
      { name: 'eraseThing', methods: ['DELETE', 'OPTIONS'], route: 'thing', handler },
    ]);
    const item = doc.paths['/thing'] ?? {};
    expect(Object.keys(item).sort()).toEqual(['delete', 'get', 'options']);
    expect((item.get as Operation).operationId).toBe('readThing');
    expect((item.delete as Operation).operationId).toBe('eraseThing');
  });
});
