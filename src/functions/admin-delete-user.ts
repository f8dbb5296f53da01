import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import { adminRoute } from './admin-access.js';
import { deleteAudited } from './identity-actions.js';

/** A user with no identity is 404, so an admin learns that a repeated or mistyped delete did nothing. */
async function deleteUser(scope: AuthenticatedScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await deleteAudited(scope, 'admin', subject);
  if (result.outcome === 'absent') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity (under your issuer).');
  }
  return { status: 204 };
}

/** DELETE /api/admin/users/{userId}: that user's ACS identity is deleted (its tokens with it), then its mapping. */
export const adminDeleteUser = adminRoute('identity.delete', 'path', deleteUser);

/** POST /api/admin/delete-user with `{"userId": ...}`: the same, for any user id (see adminUserBodySchema). */
export const adminDeleteUserInBody = adminRoute('identity.delete', 'body', deleteUser);
