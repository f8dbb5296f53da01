import { ProblemError } from '../http/problem.js';
import { adminRoute } from './admin-access.js';
import { deleteAudited } from './identity-actions.js';

/**
 * DELETE /api/admin/users/{userId}: that user's ACS identity is deleted (its tokens with it), then its mapping
 * (GDPR erasure). A user with no identity is 404, so an admin learns that a repeated or mistyped delete did nothing.
 */
export const adminDeleteUser = adminRoute('identity.delete', async (scope, subject) => {
  const result = await deleteAudited(scope, 'admin', subject);
  if (result.outcome === 'absent') {
    throw new ProblemError('not-found', 'No user with this id has an ACS identity (under your issuer).');
  }
  return { status: 204 };
});
