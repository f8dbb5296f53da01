import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import { durableUser, revokeAudited } from './identity-actions.js';

/** POST /api/identity/revoke: every token issued to the caller so far stops working; its identity stays. */
export async function revokeIdentity(scope: AuthenticatedScope): Promise<HttpResponseInit> {
  const result = await revokeAudited(scope, 'self', durableUser(scope.caller));
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'You have no ACS identity, so there is nothing to revoke.');
  }
  return { status: 204 };
}
