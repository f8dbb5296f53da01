import { z } from 'zod';

/** Who the caller is, as verified by caller validation: the token issuer and the user claim's value. */
export const userKeySchema = z.object({
  issuer: z.string().min(1),
  userId: z.string().min(1),
});
export type UserKey = z.infer<typeof userKeySchema>;

/**
 * Everything the deployment knows about one user, in one row that every instance reads and writes conditionally
 * (src/identities/user-row.ts owns every change to it). A row without `communicationUserId` is either a claim (one
 * request, somewhere, is creating the user's ACS identity, and everyone else waits for it) or, with `erased`, what an
 * erase left: a tombstone whose `generation` tells requests that began before the erase to give up.
 */
export const identityRecordSchema = userKeySchema.extend({
  createdAt: z.iso.datetime(),
  /** Bumped by every erase (absent: 0); a request that first read an older generation never writes again. */
  generation: z.int().min(0).optional(),
  /** Set by an erase: no identity, no tokens; the next request starts a new generation's identity. */
  erased: z.literal(true).optional(),
  /** The user's one ACS identity; absent while a claim is pending or after an erase. */
  communicationUserId: z.string().min(1).optional(),
  /** The pending claim's id: the request creating the identity, so only it may complete or renew the claim. */
  claimId: z.string().min(1).optional(),
  /** Bumped by every revoke before ACS is called (absent: 0); a token kept under an older count is never reused. */
  revocation: z.int().min(0).optional(),
  /** A revoke is under way (or stopped half way): no token is kept or handed back until one completes. */
  revoking: z.literal(true).optional(),
  /** Reusable tokens, sealed (src/tokens/token-reuse.ts); opaque to the store. */
  reusableTokens: z.string().min(1).optional(),
  /** The shared per-user limit (src/limits/row-limit.ts): tokens left at `limitAt`, in the store's own time. */
  limitTokens: z.coerce.number().optional(),
  limitAt: z.coerce.number().optional(),
});
export type IdentityRecord = z.infer<typeof identityRecordSchema>;

/** A record that names the user's ACS identity: what callers of the store mostly deal with. */
export type IdentityMapping = IdentityRecord & { communicationUserId: string };

export function hasIdentity(record: IdentityRecord | undefined): record is IdentityMapping {
  return record?.communicationUserId !== undefined;
}

/** A record as read or written, with the version a conditional write must name (an ETag for Table Storage). */
export interface Versioned {
  readonly record: IdentityRecord;
  readonly version: string;
}

/** A versioned record that names the user's identity. */
export interface VersionedMapping extends Versioned {
  readonly record: IdentityMapping;
}

/**
 * The identity store port: one record per user, with optimistic concurrency. Adapters: `memory/` (one process) and
 * `table/` (Azure Table Storage, shared by every instance). Every write is conditional, so the logic built on it
 * (provisioning, revocation, erasure) holds across any number of instances; the adapters hold no logic of their own.
 */
export interface IdentityStore {
  /** The user's record and its version, or undefined when the user has none. */
  read(user: UserKey): Promise<Versioned | undefined>;
  /** Writes `record` if the user has none yet; undefined when one exists (someone else wrote first). */
  insert(record: IdentityRecord): Promise<Versioned | undefined>;
  /** Replaces the user's record if it is still at `version`; undefined when it changed or is gone. */
  replace(record: IdentityRecord, version: string): Promise<Versioned | undefined>;
  /** Removes the user's record if it is still at `version`; false when it changed or is gone. */
  remove(user: UserKey, version: string): Promise<boolean>;
  /** Every record; for consistency checks and operators, not for the request path. */
  list(): AsyncIterable<IdentityRecord>;
  /** Resolves when the backing store answers; used by the health endpoint. */
  ping(): Promise<void>;
  /**
   * The store's own time in epoch milliseconds, as this instance last learned it from the store (Table Storage's
   * `Date` header), so every instance reckons the shared limit on one clock whatever its own clock says.
   */
  now(): number;
}

/** JSON of the pair keeps every (issuer, userId) distinct, whatever characters they hold. */
export function userKeyOf(user: UserKey): string {
  return JSON.stringify([user.issuer, user.userId]);
}
