import type { HttpMethod } from '@azure/functions';
import { health } from './functions/health.js';
import { issueToken } from './functions/issue-token.js';
import { notFound } from './functions/not-found.js';
import { authenticated, open, type RouteHandler } from './http/pipeline.js';

export interface RouteDefinition {
  /** The function name in Azure (unique, letters and digits). */
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** The route template below the `api/` prefix (host.json routePrefix). */
  readonly route: string;
  /** Always anonymous at the host level: callers are verified by the app itself (AUTH_MODE), not function keys. */
  readonly authLevel: 'anonymous' | 'function' | 'admin';
  readonly handler: RouteHandler;
}

/** The one route table: src/index.ts registers it with the Functions host, dev/local-host.ts serves it. */
export const routes: readonly RouteDefinition[] = [
  {
    name: 'issueToken',
    methods: ['GET', 'POST'],
    route: 'token',
    authLevel: 'anonymous',
    handler: authenticated(issueToken),
  },
  { name: 'health', methods: ['GET'], route: 'health', authLevel: 'anonymous', handler: open(health) },
  {
    name: 'notFound',
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
    route: '{*path}',
    authLevel: 'anonymous',
    handler: open(notFound(() => routes)),
  },
];
