import type { HttpResponseInit } from '@azure/functions';
import type { AuthenticatedScope } from '../http/pipeline.js';
import { deleteAudited, durableUser } from './identity-actions.js';

/**
 * DELETE /api/identity: the caller's ACS identity is deleted (its tokens with it), then its mapping. Repeating it
 * is harmless (204 again); the caller's next token request creates a new identity.
 */
export async function deleteIdentity(scope: AuthenticatedScope): Promise<HttpResponseInit> {
  await deleteAudited(scope, 'self', durableUser(scope.caller));
  return { status: 204 };
}
