import type { HttpResponseInit } from '@azure/functions';
import { defineRoute, type Route, type UserScope } from '../app-services.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import {
  ADMIN_AREA,
  adminAreaParamsSchema,
  adminSubject,
  adminUserBodySchema,
  adminUserParamsSchema,
  MISSING_USER_BODY,
  PATH_IDS_NOTE,
} from './admin-access.js';
import { revokeAudited } from './identity-actions.js';

async function revokeUser(scope: UserScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await revokeAudited(scope, 'admin', subject);
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity under that issuer.');
  }
  return { status: 204 };
}

export const adminRevokeUserRoute: Route = defineRoute({
  name: 'revokeUserAsAdmin',
  methods: ['POST'],
  route: `${ADMIN_AREA}/users/{userId}/revoke`,
  access: { admin: 'identity.revoke' },
  inputs: { params: adminUserParamsSchema },
  operation: (scope, inputs) => revokeUser(scope, adminSubject(scope, 'identity.revoke', inputs)),
  docs: {
    summary: 'Revokes every token of a user (admins only)',
    description:
      'Needs AUTH_ADMIN_ROLE in the caller’s roles (403 otherwise); off (404) while AUTH_ADMIN_ROLE is unset. ' +
      'userId is the user claim’s value under the caller’s issuer; 404 when that user has no identity. Audited. ' +
      PATH_IDS_NOTE,
    tags: ['Administration'],
    responses: { 204: { description: 'The user’s earlier tokens no longer work.' } },
    problems: ['not-found', 'invalid-request', 'upstream-failure', 'unavailable'],
  },
});

export const adminRevokeUserInBodyRoute: Route = defineRoute({
  name: 'revokeUserByBodyAsAdmin',
  methods: ['POST'],
  route: `${ADMIN_AREA}/revoke-user`,
  access: { admin: 'identity.revoke' },
  inputs: {
    params: adminAreaParamsSchema,
    body: { schema: adminUserBodySchema, missing: MISSING_USER_BODY },
  },
  operation: (scope, inputs) => revokeUser(scope, adminSubject(scope, 'identity.revoke', inputs)),
  docs: {
    summary: 'Revokes every token of any user, named in the body (admins only)',
    description:
      'As POST /admin/users/{userId}/revoke, with the user id in a JSON body, so every id the token path ever ' +
      'served can be named: `.` and `..`, lone surrogates (as \\uD800 escapes), and ids longer than a path ' +
      'carries; `issuer` names a user of another configured issuer (default: the caller’s own; ' +
      'AUTH_ADMIN_REACH may narrow it). 404 when that user has no identity. Audited.',
    tags: ['Administration'],
    responses: { 204: { description: 'The user’s earlier tokens no longer work.' } },
    problems: ['not-found', 'upstream-failure', 'unavailable'],
  },
});
