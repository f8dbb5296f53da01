import { createHash } from 'node:crypto';
import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { defineRoute, type Route, type Scope } from '../app-services.js';
import { buildOpenApiDocument, type DocumentedRoute } from '../openapi/document.js';

/** Clients and gateways may keep the document this long, then revalidate it with its ETag. */
export const OPENAPI_MAX_AGE_SECONDS = 300;

/** The parts of the answer a client relies on; the full document is checked by an OpenAPI validator in tests. */
export const openApiResponseSchema = z.looseObject({
  openapi: z.literal('3.1.0'),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

interface Served {
  body: string;
  etag: string;
}

/**
 * GET /api/openapi.json: the OpenAPI 3.1 document of the route table. It depends on the code only, never on a
 * setting, so it is built once per process and may be cached anywhere (`public`, ETag).
 */
export function serveOpenApi(routes: () => readonly DocumentedRoute[]) {
  let served: Served | undefined;
  return async ({ request }: Scope): Promise<HttpResponseInit> => {
    if (!served) {
      const body = JSON.stringify(buildOpenApiDocument(routes()));
      served = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    }
    const headers = {
      'Cache-Control': `public, max-age=${OPENAPI_MAX_AGE_SECONDS}`,
      ETag: served.etag,
    };
    const known = (request.headers.get('if-none-match') ?? '')
      .split(',')
      .map((tag) => tag.trim().replace(/^W\//, ''));
    if (known.includes(served.etag) || known.includes('*')) return { status: 304, headers };
    return {
      status: 200,
      headers: { ...headers, 'Content-Type': 'application/json; charset=utf-8' },
      body: served.body,
    };
  };
}

/** The route; `routes` is read lazily, since the table it documents includes this route. */
export const openApiRoute = (routes: () => readonly DocumentedRoute[]): Route =>
  defineRoute({
    name: 'openapi',
    methods: ['GET'],
    route: 'openapi.json',
    access: 'open',
    operation: serveOpenApi(routes),
    docs: {
      summary: 'This OpenAPI document',
      description: 'Needs no authentication; the same for every deployment, so caches may keep it (ETag).',
      tags: ['Operations'],
      responses: {
        200: {
          description: 'The OpenAPI 3.1 document.',
          body: openApiResponseSchema,
          headers: { ETag: 'The version of the document.', 'Cache-Control': 'How long it may be cached.' },
        },
        304: { description: 'The document did not change since the ETag sent in If-None-Match.' },
      },
    },
  });
