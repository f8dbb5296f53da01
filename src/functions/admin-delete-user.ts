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
import { deleteAudited } from './identity-actions.js';

/** A user with no identity is 404, so an admin learns that a repeated or mistyped delete did nothing. */
async function deleteUser(scope: AuthenticatedScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await deleteAudited(scope, 'admin', subject);
  if (result.outcome === 'absent') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity under that issuer.');
  }
  return { status: 204 };
}

/** DELETE /api/admin/users/{userId}: that user's ACS identity is deleted (its tokens with it), then its mapping. */
export const adminDeleteUser = adminRoute('identity.delete', 'path', deleteUser);

/** POST /api/admin/delete-user with `{"userId": ...}`: the same, for any user id (see adminUserBodySchema). */
export const adminDeleteUserInBody = adminRoute('identity.delete', 'body', deleteUser);

export const adminDeleteUserRoute: RouteDefinition = {
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
};

export const adminDeleteUserInBodyRoute: RouteDefinition = {
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
};
