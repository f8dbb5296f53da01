import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { RouteDefinition } from '../http/route-table.js';
import type { UserKey } from '../identities/identity-store.js';
import {
  ADMIN_AREA,
  adminAreaParamsSchema,
  adminRoute,
  adminUserBodySchema,
  adminUserParamsSchema,
  PATH_IDS_NOTE,
} from './admin-access.js';
import { revokeAudited } from './identity-actions.js';

async function revokeUser(scope: AuthenticatedScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await revokeAudited(scope, 'admin', subject);
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity under that issuer.');
  }
  return { status: 204 };
}

/** POST /api/admin/users/{userId}/revoke: every token issued to that user so far stops working. */
export const adminRevokeUser = adminRoute('identity.revoke', 'path', revokeUser);

/** POST /api/admin/revoke-user with `{"userId": ...}`: the same, for any user id (see adminUserBodySchema). */
export const adminRevokeUserInBody = adminRoute('identity.revoke', 'body', revokeUser);

export const adminRevokeUserRoute: RouteDefinition = {
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
};

export const adminRevokeUserInBodyRoute: RouteDefinition = {
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
};
