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
import { deleteAudited } from './identity-actions.js';

/** A user with no identity is 404, so an admin learns that a repeated or mistyped delete did nothing. */
async function deleteUser(scope: UserScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await deleteAudited(scope, 'admin', subject);
  if (result.outcome === 'absent') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity under that issuer.');
  }
  return { status: 204 };
}

export const adminDeleteUserRoute: Route = defineRoute({
  name: 'deleteUserAsAdmin',
  methods: ['DELETE'],
  route: `${ADMIN_AREA}/users/{userId}`,
  access: { admin: 'identity.delete' },
  inputs: { params: adminUserParamsSchema },
  operation: (scope, inputs) => deleteUser(scope, adminSubject(scope, 'identity.delete', inputs)),
  docs: {
    summary: "Deletes a user's ACS identity and mapping (admins only; GDPR erasure)",
    description:
      'Needs AUTH_ADMIN_ROLE in the caller’s roles (403 otherwise); off (404) while AUTH_ADMIN_ROLE is unset. ' +
      'userId is the user claim’s value under the caller’s issuer; 404 when that user has no identity. ACS ' +
      'first, then the mapping; an ACS failure keeps the mapping (502/503). Audited. ' +
      PATH_IDS_NOTE,
    tags: ['Administration'],
    responses: { 204: { description: 'The user’s identity and mapping are gone.' } },
    problems: ['not-found', 'invalid-request', 'upstream-failure', 'unavailable'],
  },
});

export const adminDeleteUserInBodyRoute: Route = defineRoute({
  name: 'deleteUserByBodyAsAdmin',
  methods: ['POST'],
  route: `${ADMIN_AREA}/delete-user`,
  access: { admin: 'identity.delete' },
  inputs: {
    params: adminAreaParamsSchema,
    body: { schema: adminUserBodySchema, missing: MISSING_USER_BODY },
  },
  operation: (scope, inputs) => deleteUser(scope, adminSubject(scope, 'identity.delete', inputs)),
  docs: {
    summary: "Deletes any user's ACS identity and mapping, named in the body (admins only; GDPR erasure)",
    description:
      'As DELETE /admin/users/{userId}, with the user id in a JSON body, so every id the token path ever ' +
      'served can be named: `.` and `..`, lone surrogates (as \\uD800 escapes), and ids longer than a path ' +
      'carries; `issuer` names a user of another configured issuer (default: the caller’s own; ' +
      'AUTH_ADMIN_REACH may narrow it). POST, because a DELETE with a body is dropped by some proxies. 404 when ' +
      'that user has no identity. Audited.',
    tags: ['Administration'],
    responses: { 204: { description: 'The user’s identity and mapping are gone.' } },
    problems: ['not-found', 'upstream-failure', 'unavailable'],
  },
});
