import type { AcsSession } from '../acs/client.js';
import { AcsFailureError } from '../acs/errors.js';
import { IdentityNotFoundError, type IdentityStore, type UserKey } from './identity-store.js';

export interface LifecycleDependencies {
  store: IdentityStore;
  acs: AcsSession;
  /** Drops what this instance keeps about the user: its cached mapping and the tokens kept for reuse. */
  forgetUser(user: UserKey): void;
}

export type RevokeResult =
  | { outcome: 'revoked' | 'identity_already_gone'; communicationUserId: string }
  | { outcome: 'not_found' };

export type DeleteResult =
  | { outcome: 'deleted' | 'identity_already_gone'; communicationUserId: string }
  | { outcome: 'absent' };

/** ACS answers 404 IdentityNotFound for an identity of this resource that was deleted: its tokens are dead too. */
export function isIdentityGone(error: unknown): boolean {
  return error instanceof AcsFailureError && error.statusCode === 404 && error.code === 'IdentityNotFound';
}

/**
 * Every token issued to the user so far stops working. ACS first, then the mapping's revocation time, which tells
 * every instance to stop handing out tokens it kept (within its cache's staleness window). A failure at either step
 * propagates: the caller answers 502/503, and repeating the revoke is harmless.
 */
export async function revokeUserTokens(deps: LifecycleDependencies, user: UserKey): Promise<RevokeResult> {
  try {
    const mapping = await deps.store.get(user);
    if (!mapping) return { outcome: 'not_found' };
    const { communicationUserId } = mapping;
    let outcome: 'revoked' | 'identity_already_gone' = 'revoked';
    try {
      await deps.acs.revokeTokens(communicationUserId);
    } catch (error) {
      if (!isIdentityGone(error)) throw error;
      outcome = 'identity_already_gone';
    }
    try {
      await deps.store.markRevoked(user, new Date());
    } catch (error) {
      // A delete running at the same time removed the mapping: nothing is left to mark.
      if (!(error instanceof IdentityNotFoundError)) throw error;
    }
    return { outcome, communicationUserId };
  } finally {
    deps.forgetUser(user);
  }
}

/**
 * Deletes the user's ACS identity (which revokes its tokens), THEN its mapping, so a failure never leaves a mapping
 * pointing nowhere reachable only by hand: if ACS fails, the mapping stays and the error propagates (502/503); if
 * the mapping cannot be removed, a retry finds ACS answering IdentityNotFound, counts that as deleted, and removes
 * the mapping. With no mapping there is nothing to do. The user's next token request creates a new identity.
 */
export async function deleteUserIdentity(deps: LifecycleDependencies, user: UserKey): Promise<DeleteResult> {
  try {
    const mapping = await deps.store.get(user);
    if (!mapping) return { outcome: 'absent' };
    const { communicationUserId } = mapping;
    let outcome: 'deleted' | 'identity_already_gone' = 'deleted';
    try {
      await deps.acs.eraseIdentity(communicationUserId);
    } catch (error) {
      if (!isIdentityGone(error)) throw error;
      outcome = 'identity_already_gone';
    }
    // Conditional on the id, so a mapping created since (by a later token request) is never removed by mistake.
    await deps.store.delete(user, communicationUserId);
    return { outcome, communicationUserId };
  } finally {
    deps.forgetUser(user);
  }
}
