import type { AcsSession } from '../acs/client.js';
import { AcsFailureError } from '../acs/errors.js';
import { hasIdentity, type IdentityStore, type UserKey } from './identity-store.js';
import { markRevoked, removeIdentity } from './records.js';

export interface LifecycleDependencies {
  store: IdentityStore;
  acs: AcsSession;
}

export type RevokeResult =
  | { outcome: 'revoked' | 'identity_already_gone'; communicationUserId: string }
  | { outcome: 'not_found' };

export type DeleteResult =
  | { outcome: 'deleted' | 'identity_already_gone'; communicationUserId: string }
  | { outcome: 'absent' };

/** ACS answers 404 IdentityNotFound for an identity of this resource that was deleted: its tokens are dead too. */
export function isIdentityGone(error: unknown): boolean {
  return error instanceof AcsFailureError && error.statusCode === 404 && error.acsCode === 'IdentityNotFound';
}

/**
 * Every token issued to the user so far stops working. ACS first, then the record's revocation time (which also
 * drops the tokens kept for reuse). Every instance reads the record on every token request, so once this returns
 * no instance hands out a token issued before it. A failure at either step propagates: the caller answers 502/503,
 * and repeating the revoke is harmless.
 */
export async function revokeUserTokens(deps: LifecycleDependencies, user: UserKey): Promise<RevokeResult> {
  const current = await deps.store.read(user);
  if (!hasIdentity(current?.record)) return { outcome: 'not_found' };
  const { communicationUserId } = current.record;
  let outcome: 'revoked' | 'identity_already_gone' = 'revoked';
  try {
    await deps.acs.revokeTokens(communicationUserId);
  } catch (error) {
    if (!isIdentityGone(error)) throw error;
    outcome = 'identity_already_gone';
  }
  await markRevoked(deps.store, user, new Date());
  return { outcome, communicationUserId };
}

/**
 * Deletes the user's ACS identity (which revokes its tokens), THEN its record, so a failure never leaves a record
 * pointing nowhere reachable only by hand: if ACS fails, the record stays and the error propagates (502/503); if
 * the record cannot be removed, a retry finds ACS answering IdentityNotFound, counts that as deleted, and removes
 * the record. With no identity there is nothing to do. The user's next token request creates a new identity.
 */
export async function deleteUserIdentity(deps: LifecycleDependencies, user: UserKey): Promise<DeleteResult> {
  const current = await deps.store.read(user);
  if (!hasIdentity(current?.record)) return { outcome: 'absent' };
  const { communicationUserId } = current.record;
  let outcome: 'deleted' | 'identity_already_gone' = 'deleted';
  try {
    await deps.acs.eraseIdentity(communicationUserId);
  } catch (error) {
    if (!isIdentityGone(error)) throw error;
    outcome = 'identity_already_gone';
  }
  // Conditional on the id, so a record created since (by a later token request) is never removed by mistake.
  await removeIdentity(deps.store, user, communicationUserId);
  return { outcome, communicationUserId };
}
