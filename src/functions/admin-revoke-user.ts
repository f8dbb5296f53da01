import { ProblemError } from '../http/problem.js';
import { adminRoute } from './admin-access.js';
import { revokeAudited } from './identity-actions.js';

/** POST /api/admin/users/{userId}/revoke: every token issued to that user so far stops working. */
export const adminRevokeUser = adminRoute('identity.revoke', async (scope, subject) => {
  const result = await revokeAudited(scope, 'admin', subject);
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity (under your issuer).');
  }
  return { status: 204 };
});
