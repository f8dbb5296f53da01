import type { HttpMethod } from '@azure/functions';
import {
  ADMIN_AREA,
  adminAreaParamsSchema,
  adminUserBodySchema,
  adminUserParamsSchema,
} from './functions/admin-access.js';
import { adminDeleteUser, adminDeleteUserInBody } from './functions/admin-delete-user.js';
import { adminRevokeUser, adminRevokeUserInBody } from './functions/admin-revoke-user.js';
import { deleteIdentity } from './functions/delete-identity.js';
import { getIdentity, identityResponseSchema } from './functions/get-identity.js';
import { health, healthResponseSchema } from './functions/health.js';
import {
  issueTeamsToken,
  teamsTokenRequestSchema,
  teamsTokenResponseSchema,
} from './functions/issue-teams-token.js';
import {
  issueToken,
  tokenRequestBodySchema,
  tokenRequestQuerySchema,
  tokenResponseSchema,
} from './functions/issue-token.js';
import { notFound } from './functions/not-found.js';
import { openApiResponseSchema, serveOpenApi } from './functions/openapi.js';
import { revokeIdentity } from './functions/revoke-identity.js';
import { acceptPreflight } from './http/cors.js';
import { authenticated, open, type RouteHandler } from './http/pipeline.js';
import type { RouteDocs } from './openapi/route-docs.js';

export interface RouteDefinition {
  /** The function name in Azure (unique, letters and digits). */
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** The route template below the `api/` prefix (host.json routePrefix). */
  readonly route: string;
  /** Always anonymous at the host level: callers are verified by the app itself (AUTH_MODE), not function keys. */
  readonly authLevel: 'anonymous' | 'function' | 'admin';
  readonly handler: RouteHandler;
  /**
   * The route in GET /api/openapi.json: the zod schemas its handler validates with, its answers and the problems it
   * can give. Required for every route but the catch-all (test/src/openapi/document.test.ts fails without it).
   */
  readonly docs?: RouteDocs;
}

/**
 * A path cannot name every user: URL normalisation removes the dot segments `.` and `..`, a lone surrogate has no
 * UTF-8 form to percent-encode, and the path carries at most 1,024 characters. The body routes can.
 */
const PATH_IDS_NOTE =
  'Ids a path cannot carry (`.`, `..`, lone surrogates, over 1,024 characters) go to the body form ' +
  '(POST /admin/revoke-user, POST /admin/delete-user).';

/** The one route table: src/index.ts registers it with the Functions host, dev/local-host.ts serves it. */
export const routes: readonly RouteDefinition[] = acceptPreflight([
  {
    name: 'issueToken',
    methods: ['GET', 'POST'],
    route: 'token',
    authLevel: 'anonymous',
    handler: authenticated(issueToken),
    docs: {
      summary: "A token for the caller's one ACS identity",
      description:
        'The first request of a user creates its ACS identity; later ones reuse it. Scopes must be allowed by ' +
        'TOKEN_ALLOWED_SCOPES (else 403); both inputs default to the service settings.',
      tags: ['Tokens'],
      responses: {
        200: {
          description: 'The token, its expiry and the identity it belongs to.',
          body: tokenResponseSchema,
        },
      },
      problems: ['forbidden', 'upstream-failure', 'unavailable'],
      methods: {
        GET: {
          summary: "A token for the caller's one ACS identity (query string, as in the ACS tutorial)",
          query: tokenRequestQuerySchema,
        },
        POST: { body: { schema: tokenRequestBodySchema, required: false } },
      },
    },
  },
  {
    name: 'health',
    methods: ['GET'],
    route: 'health',
    authLevel: 'anonymous',
    handler: open(health),
    docs: {
      summary: 'Whether the settings are valid and the identity store answers',
      description: 'Needs no authentication and reveals no setting.',
      tags: ['Operations'],
      responses: { 200: { description: 'The service can serve tokens.', body: healthResponseSchema } },
      problems: ['unavailable'],
    },
  },
  {
    name: 'openapi',
    methods: ['GET'],
    route: 'openapi.json',
    authLevel: 'anonymous',
    handler: open(serveOpenApi(() => routes)),
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
  },
  {
    name: 'issueTeamsToken',
    methods: ['POST'],
    route: 'token/teams',
    authLevel: 'anonymous',
    handler: authenticated(issueTeamsToken),
    docs: {
      summary: "An ACS token for the caller's own Teams user",
      description:
        "Exchanges the Teams user's Microsoft Entra ID token for an ACS token (app id TEAMS_CLIENT_ID, user id the " +
        "caller's verified oid). 400 when the input is malformed, the caller has no oid, a tenant id was sent as the " +
        'object id, or ACS refused the exchange; 401 when ACS found the Teams token invalid or expired; 404 when ' +
        'TEAMS_CLIENT_ID is not set. The Teams token is never logged.',
      tags: ['Tokens'],
      body: { schema: teamsTokenRequestSchema, required: true },
      responses: {
        200: { description: 'The Teams user’s ACS token and its expiry.', body: teamsTokenResponseSchema },
      },
      problems: ['unauthenticated', 'not-found', 'upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'getIdentity',
    methods: ['GET'],
    route: 'identity',
    authLevel: 'anonymous',
    handler: authenticated(getIdentity),
    docs: {
      summary: "The caller's ACS identity",
      description: 'Makes no ACS call. 404 until the caller’s first token request creates the identity.',
      tags: ['Identity'],
      responses: { 200: { description: 'The caller’s ACS identity.', body: identityResponseSchema } },
      problems: ['not-found', 'unavailable'],
    },
  },
  {
    name: 'deleteIdentity',
    methods: ['DELETE'],
    route: 'identity',
    authLevel: 'anonymous',
    handler: authenticated(deleteIdentity),
    docs: {
      summary: "Deletes the caller's ACS identity (and its tokens), then its mapping",
      description:
        'Repeating it is harmless (204). If ACS fails, the mapping is kept and the answer is 502/503: retry. The ' +
        'next token request creates a new identity.',
      tags: ['Identity'],
      responses: { 204: { description: 'The identity and its mapping are gone (or there was none).' } },
      problems: ['upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'revokeIdentity',
    methods: ['POST'],
    route: 'identity/revoke',
    authLevel: 'anonymous',
    handler: authenticated(revokeIdentity),
    docs: {
      summary: 'Revokes every token issued to the caller so far',
      description: 'The identity stays; the next token request gets a working token.',
      tags: ['Identity'],
      responses: { 204: { description: 'The caller’s earlier tokens no longer work.' } },
      problems: ['not-found', 'upstream-failure', 'unavailable'],
    },
  },
  // Function names and route templates must not start with "admin" (reserved by the Functions host).
  {
    name: 'revokeUserAsAdmin',
    methods: ['POST'],
    route: `${ADMIN_AREA}/users/{userId}/revoke`,
    authLevel: 'anonymous',
    handler: adminRevokeUser,
    docs: {
      summary: 'Revokes every token of a user (admins only)',
      description:
        'Needs AUTH_ADMIN_ROLE in the caller’s roles (403 otherwise); off (404) while AUTH_ADMIN_ROLE is unset. ' +
        'userId is the user claim’s value under the caller’s issuer; 404 when that user has no identity. Audited. ' +
        PATH_IDS_NOTE,
      tags: ['Administration'],
      params: adminUserParamsSchema,
      responses: { 204: { description: 'The user’s earlier tokens no longer work.' } },
      problems: ['not-found', 'invalid-request', 'upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'deleteUserAsAdmin',
    methods: ['DELETE'],
    route: `${ADMIN_AREA}/users/{userId}`,
    authLevel: 'anonymous',
    handler: adminDeleteUser,
    docs: {
      summary: "Deletes a user's ACS identity and mapping (admins only; GDPR erasure)",
      description:
        'Needs AUTH_ADMIN_ROLE in the caller’s roles (403 otherwise); off (404) while AUTH_ADMIN_ROLE is unset. ' +
        'userId is the user claim’s value under the caller’s issuer; 404 when that user has no identity. ACS ' +
        'first, then the mapping; an ACS failure keeps the mapping (502/503). Audited. ' +
        PATH_IDS_NOTE,
      tags: ['Administration'],
      params: adminUserParamsSchema,
      responses: { 204: { description: 'The user’s identity and mapping are gone.' } },
      problems: ['not-found', 'invalid-request', 'upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'revokeUserByBodyAsAdmin',
    methods: ['POST'],
    route: `${ADMIN_AREA}/revoke-user`,
    authLevel: 'anonymous',
    handler: adminRevokeUserInBody,
    docs: {
      summary: 'Revokes every token of any user, named in the body (admins only)',
      description:
        'As POST /admin/users/{userId}/revoke, with the user id in a JSON body, so every id the token path ever ' +
        'served can be named: `.` and `..`, lone surrogates (as \\uD800 escapes), and ids longer than a path ' +
        'carries. 404 when that user has no identity. Audited.',
      tags: ['Administration'],
      params: adminAreaParamsSchema,
      body: { schema: adminUserBodySchema, required: true },
      responses: { 204: { description: 'The user’s earlier tokens no longer work.' } },
      problems: ['not-found', 'upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'deleteUserByBodyAsAdmin',
    methods: ['POST'],
    route: `${ADMIN_AREA}/delete-user`,
    authLevel: 'anonymous',
    handler: adminDeleteUserInBody,
    docs: {
      summary: "Deletes any user's ACS identity and mapping, named in the body (admins only; GDPR erasure)",
      description:
        'As DELETE /admin/users/{userId}, with the user id in a JSON body, so every id the token path ever ' +
        'served can be named: `.` and `..`, lone surrogates (as \\uD800 escapes), and ids longer than a path ' +
        'carries. POST, because a DELETE with a body is dropped by some proxies. 404 when that user has no ' +
        'identity. Audited.',
      tags: ['Administration'],
      params: adminAreaParamsSchema,
      body: { schema: adminUserBodySchema, required: true },
      responses: { 204: { description: 'The user’s identity and mapping are gone.' } },
      problems: ['not-found', 'upstream-failure', 'unavailable'],
    },
  },
  {
    name: 'notFound',
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
    route: '{*path}',
    authLevel: 'anonymous',
    handler: open(notFound(() => routes)),
  },
]);
