import {
  type IdentityRecord,
  type IdentityStore,
  IdentityStoreUnavailableError,
  type UserKey,
  type Versioned,
} from './identity-store.js';

/** What to do with the user's current record: write this record, remove it, or leave it as it is. */
export type RecordChange = IdentityRecord | 'remove' | 'keep';

/**
 * Optimistic-concurrency rounds before giving up on a record that keeps changing under us. Every lost round means
 * another writer finished, so this also bounds how many writers may race on one user.
 */
const MAX_ROUNDS = 25;

/**
 * Applies `change` to the user's current record (undefined when there is none) until a conditional write of it
 * sticks, re-reading after every conflict; `change` sees each fresh read, so it decides again on what is really
 * stored. Returns the record as stored afterwards (undefined when removed or absent).
 */
export async function rewriteRecord(
  store: IdentityStore,
  user: UserKey,
  change: (current: Versioned | undefined) => RecordChange,
): Promise<Versioned | undefined> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const current = await store.read(user);
    const next = change(current);
    if (next === 'keep') return current;
    if (next === 'remove') {
      if (!current || (await store.remove(user, current.version))) return undefined;
      continue;
    }
    const written = current ? await store.replace(next, current.version) : await store.insert(next);
    if (written) return written;
  }
  throw new IdentityStoreUnavailableError("The user's record kept changing; giving up for now");
}

/**
 * Records that every token issued to the user before `at` is revoked, and drops the tokens kept for reuse, so no
 * instance hands one back. Nothing to do when the user has no identity (a concurrent erase removed it).
 */
export async function markRevoked(store: IdentityStore, user: UserKey, at: Date): Promise<void> {
  await rewriteRecord(store, user, (current) => {
    if (current?.record.communicationUserId === undefined) return 'keep';
    const { reusableTokens, ...record } = current.record;
    const revokedAt = laterRevocation(record.revokedAt, at);
    return revokedAt === record.revokedAt && reusableTokens === undefined ? 'keep' : { ...record, revokedAt };
  });
}

/**
 * Removes the user's record if it still names `communicationUserId`, so a stale erase never removes a newer
 * identity's record. Harmless when there is none.
 */
export async function removeIdentity(
  store: IdentityStore,
  user: UserKey,
  communicationUserId: string,
): Promise<void> {
  await rewriteRecord(store, user, (current) =>
    current?.record.communicationUserId === communicationUserId ? 'remove' : 'keep',
  );
}

/** The `revokedAt` to store when revoking at `at`: revocation only ever moves forward in time. */
export function laterRevocation(stored: string | undefined, at: Date): string {
  return stored !== undefined && Date.parse(stored) > at.getTime() ? stored : at.toISOString();
}
