import { z } from 'zod';

/** Who the caller is, as verified by caller validation: the token issuer and the user claim's value. */
export const userKeySchema = z.object({
  issuer: z.string().min(1),
  userId: z.string().min(1),
});
export type UserKey = z.infer<typeof userKeySchema>;

/** The durable link between one application user and the one ACS identity it owns. */
export const identityMappingSchema = userKeySchema.extend({
  communicationUserId: z.string().min(1),
  createdAt: z.iso.datetime(),
  /** Tokens issued before this instant are revoked; lets other instances drop tokens they reuse. */
  revokedAt: z.iso.datetime().optional(),
});
export type IdentityMapping = z.infer<typeof identityMappingSchema>;

/**
 * The identity store port. Adapters: `memory/` (one process) and `table/` (Azure Table Storage, shared by every
 * instance). Every method is safe to call concurrently from many instances.
 */
export interface IdentityStore {
  /** The user's mapping, or undefined when the user has none. */
  get(user: UserKey): Promise<IdentityMapping | undefined>;
  /**
   * Stores `mapping` unless the user already has one. Returns the mapping stored afterwards: `created` is false
   * when another writer got there first, and `mapping` is then the winner's. Idempotent: when the stored mapping
   * already points at the same `communicationUserId`, `created` is true, so a write retried after a lost answer is
   * not mistaken for a lost race (whose loser deletes the ACS identity it created).
   */
  createIfAbsent(mapping: IdentityMapping): Promise<{ mapping: IdentityMapping; created: boolean }>;
  /**
   * Records that every token issued to the user before `at` is revoked; an earlier `at` than the one stored leaves
   * the later one in place. Throws IdentityNotFoundError if the user has no mapping.
   */
  markRevoked(user: UserKey, at: Date): Promise<IdentityMapping>;
  /**
   * Removes the user's mapping if it still points at `communicationUserId` (so a stale delete cannot remove a newer
   * mapping). Harmless when there is none. Returns whether a mapping was removed.
   */
  delete(user: UserKey, communicationUserId: string): Promise<boolean>;
  /** Every mapping; for consistency checks and operators, not for the request path. */
  list(): AsyncIterable<IdentityMapping>;
  /** Resolves when the backing store answers; used by the health endpoint. */
  ping(): Promise<void>;
}

export class IdentityNotFoundError extends Error {
  override readonly name = 'IdentityNotFoundError';
}

/** The backing store could not be reached or failed; the request should end in 503, not 500. */
export class IdentityStoreUnavailableError extends Error {
  override readonly name = 'IdentityStoreUnavailableError';
}

/** The `revokedAt` to store when revoking at `at`: revocation only ever moves forward in time. */
export function laterRevocation(stored: string | undefined, at: Date): string {
  return stored !== undefined && Date.parse(stored) > at.getTime() ? stored : at.toISOString();
}
