import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import { adminRoute } from './admin-access.js';
import { revokeAudited } from './identity-actions.js';

async function revokeUser(scope: AuthenticatedScope, subject: UserKey): Promise<HttpResponseInit> {
  const result = await revokeAudited(scope, 'admin', subject);
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity (under your issuer).');
  }
  return { status: 204 };
}

/** POST /api/admin/users/{userId}/revoke: every token issued to that user so far stops working. */
export const adminRevokeUser = adminRoute('identity.revoke', 'path', revokeUser);

/** POST /api/admin/revoke-user with `{"userId": ...}`: the same, for any user id (see adminUserBodySchema). */
export const adminRevokeUserInBody = adminRoute('identity.revoke', 'body', revokeUser);
