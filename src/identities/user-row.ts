import { type AcsOperation, type RowLimitOptions, spend } from '../limits/row-limit.js';
import { IdentityStoreUnavailableError, UserLimitExceededError } from '../shared/errors.js';
import {
  type IdentityRecord,
  type IdentityStore,
  type UserKey,
  userKeyOf,
  type Versioned,
} from './identity-store.js';

/**
 * The one owner of the user's row: every change to it is a pure transition below, written by `UserRows.write` as one
 * conditional write (If-Match on the version just read), which also carries the shared per-user limit
 * (src/limits/row-limit.ts). Provisioning, revocation, erasure and token reuse decide what to write; only this
 * module writes. Every operation is one read and one write in the usual case, and a lost race re-reads and decides
 * again, for as long as the caller's budget lasts (never a fixed number of rounds).
 */

/** The row's revocation count; none yet is 0. */
export function revocationOf(record: IdentityRecord): number {
  return record.revocation ?? 0;
}

/** The erase generation a read belongs to; no row at all is generation 0. */
export function generationOf(current: Versioned | undefined): number {
  return current?.record.generation ?? 0;
}

/** A row with no identity and no claim: what an erase leaves (`erased`), or a claim whose create failed. */
export function isVacant(record: IdentityRecord): boolean {
  return record.communicationUserId === undefined && record.claimId === undefined;
}

/** Whether a row is a pending claim (someone is creating the identity). */
export function isClaim(record: IdentityRecord): boolean {
  return record.communicationUserId === undefined && record.claimId !== undefined;
}

/** What every row of the user keeps whatever it becomes: the key, its generation and its revocation count. */
function baseOf(user: UserKey, record: IdentityRecord | undefined) {
  return {
    issuer: user.issuer,
    userId: user.userId,
    createdAt: record?.createdAt ?? new Date().toISOString(),
    generation: record?.generation ?? 0,
    revocation: record?.revocation ?? 0,
  };
}

/** A claim for creating the user's identity, in the generation of `record` (none, vacant, or a claim taken over). */
export function claimFor(user: UserKey, record: IdentityRecord | undefined, claimId: string): IdentityRecord {
  return { ...baseOf(user, record), createdAt: new Date().toISOString(), claimId };
}

/** The claim (or vacant row) `record` replaced by the identity the create made, with the tokens kept for reuse. */
export function mappingFor(
  user: UserKey,
  record: IdentityRecord,
  communicationUserId: string,
  reusableTokens: string | undefined,
): IdentityRecord {
  return { ...baseOf(user, record), communicationUserId, ...(reusableTokens ? { reusableTokens } : {}) };
}

/** A claim whose create failed, released so that a waiting request may claim at once. */
export function releasedClaim(user: UserKey, record: IdentityRecord): IdentityRecord {
  return baseOf(user, record);
}

/** What an erase leaves: a new generation, no identity, no tokens. */
export function tombstoneOf(user: UserKey, record: IdentityRecord): IdentityRecord {
  return { ...baseOf(user, record), generation: (record.generation ?? 0) + 1, erased: true };
}

/** Marked BEFORE ACS revokes: kept tokens dropped and no new ones kept until the revoke completes. */
export function revokingOf(record: IdentityRecord): IdentityRecord {
  const { reusableTokens: _dropped, ...rest } = record;
  return { ...rest, revocation: revocationOf(record) + 1, revoking: true };
}

/** Marked AFTER ACS revoked: tokens issued from now on may be kept again. */
export function revokedOf(record: IdentityRecord): IdentityRecord {
  const { revoking: _done, ...rest } = record;
  return rest;
}

/** The record with these sealed reusable tokens. */
export function withKeptTokens(record: IdentityRecord, reusableTokens: string): IdentityRecord {
  return { ...record, reusableTokens };
}

export interface WriteOptions {
  /** What the write pays for ACS: its weight is spent from the shared limit, or the write is refused (429). */
  operation?: AcsOperation;
  /** The ACS work is done already (an erase): the weight is spent even if it takes the bucket below zero. */
  alreadyDone?: boolean;
}

/** The rows of every user, with the shared per-user limit they carry. */
export class UserRows {
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly store: IdentityStore,
    private readonly limit: RowLimitOptions,
  ) {}

  /** The store's time (src/identities/identity-store.ts, `now`): what the limit and reuse judge by. */
  now(): number {
    return this.store.now();
  }

  read(user: UserKey): Promise<Versioned | undefined> {
    return this.store.read(user);
  }

  /**
   * Refuses (throws UserLimitExceededError) unless the row read as `current` has room for `operation`: the check
   * before ACS work whose write comes after it.
   */
  check(current: Versioned | undefined, operation: AcsOperation): void {
    const decision = spend(current?.record ?? {}, operation, this.now(), this.limit);
    if (!decision.allowed) throw new UserLimitExceededError(decision.retryAfterSeconds);
  }

  /**
   * Writes `next` in place of the row read as `current` (an insert when there was none), if the row is still at
   * that version; undefined when it moved on. The limit's level is carried forward on every write (refilled up to
   * the store's time), less `operation`'s weight; a write the limit refuses throws UserLimitExceededError.
   */
  async write(
    user: UserKey,
    current: Versioned | undefined,
    next: IdentityRecord,
    { operation = 'reused', alreadyDone = false }: WriteOptions = {},
  ): Promise<Versioned | undefined> {
    const decision = spend(current?.record ?? {}, operation, this.now(), this.limit);
    let fields: { limitTokens: number; limitAt: number };
    if (decision.allowed) fields = decision.fields;
    else if (alreadyDone) fields = { limitTokens: 0, limitAt: this.now() };
    else throw new UserLimitExceededError(decision.retryAfterSeconds);
    const record = { ...next, ...fields, issuer: user.issuer, userId: user.userId };
    return current ? this.store.replace(record, current.version) : this.store.insert(record);
  }

  /**
   * Runs `section` when no other section of the same user runs in this instance: requests of one user on one
   * instance then write one after another instead of racing each other's ETags (only other instances race).
   */
  exclusive<T>(user: UserKey, section: () => Promise<T>): Promise<T> {
    const key = userKeyOf(user);
    const run = (this.#queues.get(key) ?? Promise.resolve()).then(section);
    const settled = run.catch(() => undefined);
    this.#queues.set(key, settled);
    void settled.then(() => {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    });
    return run;
  }

  /**
   * Decides on the row and writes what `decide` asks, re-reading after each lost race, until a write sticks or
   * `decide` is done without one; runs as an exclusive section. Gives up only when `remainingMs` runs out.
   */
  async settle<T>(
    user: UserKey,
    first: Versioned | undefined,
    decide: (current: Versioned | undefined) => Promise<Decision<T>>,
    remainingMs: () => number,
  ): Promise<T> {
    const firstDecision = await decide(first);
    if ('done' in firstDecision) return firstDecision.done;
    return this.exclusive<T>(user, async () => {
      let decision: Decision<T> = firstDecision;
      let current = first;
      for (;;) {
        if ('done' in decision) return decision.done;
        const written = await this.write(user, current, decision.write, decision.options);
        if (written) return decision.after(written);
        if (remainingMs() <= 0) {
          throw new IdentityStoreUnavailableError("The user's record kept changing; giving up for now");
        }
        current = await this.read(user);
        decision = await decide(current);
      }
    });
  }
}

/** What to do with the row as read: nothing more (`done`), or write a record and go on with what was written. */
export type Decision<T> =
  | { readonly done: T }
  | {
      readonly write: IdentityRecord;
      readonly options?: WriteOptions;
      readonly after: (written: Versioned) => T;
    };
