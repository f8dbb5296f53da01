import type { AcsSession } from '../acs/client.js';
import { AcsFailureError, IdentityStoreUnavailableError } from '../shared/errors.js';
import { hasIdentity, type UserKey, type Versioned } from './identity-store.js';
import {
  generationOf,
  isClaim,
  revocationOf,
  revokedOf,
  revokingOf,
  tombstoneOf,
  type UserRows,
} from './user-row.js';

export interface LifecycleDependencies {
  rows: UserRows;
  acs: AcsSession;
}

export type RevokeResult =
  | { outcome: 'revoked' | 'identity_already_gone'; communicationUserId: string }
  | { outcome: 'not_found' };

/** `communicationUserId` is absent when the erase cancelled a create still pending. */
export type DeleteResult =
  | { outcome: 'deleted' | 'identity_already_gone'; communicationUserId?: string }
  | { outcome: 'absent' };

/** ACS answers 404 IdentityNotFound for an identity of this resource that was deleted: its tokens are dead too. */
export function isIdentityGone(error: unknown): boolean {
  return error instanceof AcsFailureError && error.statusCode === 404 && error.acsCode === 'IdentityNotFound';
}

/**
 * Every token issued to the user so far stops working. The row first: one write bumps its revocation count, drops
 * the kept tokens and marks a revoke under way, so from then on no instance hands back or keeps a token, whatever
 * happens next. Then ACS. Then one write clears the mark, so tokens issued from then on may be kept again. A failure
 * after the first write leaves the mark (no reuse, never a revoked token) and propagates: the caller answers
 * 502/503, and repeating the revoke completes it.
 */
export async function revokeUserTokens(deps: LifecycleDependencies, user: UserKey): Promise<RevokeResult> {
  const remainingMs = () => deps.acs.remainingMs();
  const first = await deps.rows.read(user);
  const generation = generationOf(first);
  const marked = await deps.rows.settle<Versioned | undefined>(
    user,
    first,
    async (current) => {
      if (generationOf(current) !== generation || !hasIdentity(current?.record)) return { done: undefined };
      return {
        write: revokingOf(current.record),
        options: { operation: 'revoke' },
        after: (written) => written,
      };
    },
    remainingMs,
  );
  if (!marked) return { outcome: 'not_found' };
  const communicationUserId = marked.record.communicationUserId ?? '';
  let outcome: 'revoked' | 'identity_already_gone' = 'revoked';
  try {
    await deps.acs.revokeTokens(communicationUserId);
  } catch (error) {
    if (!isIdentityGone(error)) throw error;
    outcome = 'identity_already_gone';
  }
  const revocation = revocationOf(marked.record);
  await deps.rows.settle<void>(
    user,
    marked,
    async (current) => {
      // A later revoke (or an erase) owns the row now; its own end clears what it marked.
      const ours =
        current !== undefined &&
        revocationOf(current.record) === revocation &&
        current.record.revoking === true;
      return ours ? { write: revokedOf(current.record), after: () => undefined } : { done: undefined };
    },
    remainingMs,
  );
  return { outcome, communicationUserId };
}

/**
 * Erases the user: deletes the ACS identity the row names (which revokes its tokens), then replaces the row with a
 * tombstone of a new generation, so every request that began before (a create pending, a token being issued, a
 * claim being renewed) finds it and writes nothing more, deleting what it created. If the row names another
 * identity by then (a request re-created one), that one is deleted too, until the tombstone is written. If ACS
 * fails, the row stays and the error propagates (502/503): a retry finds IdentityNotFound and completes. Erasing a
 * pending create writes the tombstone at once: its holder deletes the identity when ACS answers.
 */
export async function deleteUserIdentity(deps: LifecycleDependencies, user: UserKey): Promise<DeleteResult> {
  let current = await deps.rows.read(user);
  let result: DeleteResult = { outcome: 'absent' };
  const deleted = new Set<string>();
  for (;;) {
    if (deps.acs.remainingMs() <= 0) {
      throw new IdentityStoreUnavailableError("The user's record kept changing; giving up for now");
    }
    const record = current?.record;
    if (!current || !record || (!hasIdentity(record) && !isClaim(record))) return result;
    if (hasIdentity(record) && !deleted.has(record.communicationUserId)) {
      const { communicationUserId } = record;
      deps.rows.check(current, 'delete');
      let outcome: 'deleted' | 'identity_already_gone' = 'deleted';
      try {
        await deps.acs.eraseIdentity(communicationUserId);
      } catch (error) {
        if (!isIdentityGone(error)) throw error;
        outcome = 'identity_already_gone';
      }
      deleted.add(communicationUserId);
      result = { outcome, communicationUserId };
    } else if (!hasIdentity(record) && result.outcome === 'absent') {
      result = { outcome: 'deleted' };
    }
    const erased = await deps.rows.write(user, current, tombstoneOf(user, record), {
      operation: 'delete',
      alreadyDone: true,
    });
    if (erased) return result;
    current = await deps.rows.read(user);
  }
}
