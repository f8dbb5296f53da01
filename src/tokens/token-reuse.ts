import type { AcsScope } from '../acs/scopes.js';
import { LruMap } from '../cache/lru-map.js';
import type { IdentityMapping, UserKey } from '../identities/identity-store.js';
import type { TokenGrant, TokenOrder } from '../identities/provisioning.js';

/**
 * AzureCommunicationTokenCredential treats a token within 10 minutes of expiry as expiring and refreshes it; a
 * token service that handed such a token back would make the client's refresher loop.
 */
export const MIN_REMAINING_MS = 10 * 60_000;

/**
 * Instances' clocks may disagree by this much: a token counts as issued after a revocation only when it was
 * asked for at least this long after the revocation time another instance recorded.
 */
export const REVOCATION_CLOCK_SKEW_MS = 5_000;

export interface TokenReuseOptions {
  maxEntries: number;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
}

interface ReusableEntry {
  user: string;
  grant: TokenGrant;
  /** When the token was asked for: no later than ACS issued it, so revocation checks err on the safe side. */
  requestedAt: number;
}

/** Whether a token is still worth handing back at `now`: half its lifetime or more left, and over 10 minutes. */
export function isWorthReusing(grant: TokenGrant, requestedAt: number, now: number): boolean {
  const expiresAt = grant.expiresOn.getTime();
  const remaining = expiresAt - now;
  const lifetime = expiresAt - requestedAt;
  return remaining > MIN_REMAINING_MS && remaining * 2 >= lifetime;
}

/** Whether a token asked for at `requestedAt` may have been revoked by the mapping's recorded revocation. */
export function mayBeRevoked(requestedAt: number, revokedAt: string | undefined): boolean {
  return revokedAt !== undefined && requestedAt <= Date.parse(revokedAt) + REVOCATION_CLOCK_SKEW_MS;
}

const userKeyOf = (user: UserKey) => JSON.stringify([user.issuer, user.userId]);

/** Scopes are a set: `voip,chat` asks for the same token as `chat,voip`. */
const orderKeyOf = (user: UserKey, order: TokenOrder) =>
  JSON.stringify([
    user.issuer,
    user.userId,
    [...new Set<AcsScope>(order.scopes)].sort(),
    order.expiresInMinutes,
  ]);

/**
 * The tokens this instance issued, per user and order (scopes, expiry), so a user who asks again gets the same
 * token instead of costing an ACS call. Bounded (LRU). A token is handed back only while it is worth reusing, only
 * for the identity the user's current mapping names, and never when it was issued before the mapping's recorded
 * revocation; revoke and delete on this instance drop a user's tokens at once (forget).
 */
export class TokenReuseCache {
  readonly #entries: LruMap<string, ReusableEntry>;
  readonly #clock: () => number;

  constructor(options: TokenReuseOptions) {
    this.#entries = new LruMap(options.maxEntries);
    this.#clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The clock the cache judges tokens by, for callers to stamp `requestedAt`. */
  now(): number {
    return this.#clock();
  }

  /** A token issued earlier to `user` for the same order that may be handed back, judged against `mapping`. */
  find(
    user: UserKey,
    order: TokenOrder,
    mapping: Pick<IdentityMapping, 'communicationUserId' | 'revokedAt'>,
  ): TokenGrant | undefined {
    const key = orderKeyOf(user, order);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const usable =
      entry.grant.communicationUserId === mapping.communicationUserId &&
      !mayBeRevoked(entry.requestedAt, mapping.revokedAt) &&
      isWorthReusing(entry.grant, entry.requestedAt, this.#clock());
    if (!usable) this.#entries.delete(key);
    return usable ? { ...entry.grant } : undefined;
  }

  /** Keeps a token just issued to `user` (asked for at `requestedAt`) for later requests with the same order. */
  remember(user: UserKey, order: TokenOrder, grant: TokenGrant, requestedAt: number): void {
    if (!isWorthReusing(grant, requestedAt, this.#clock())) return;
    this.#entries.set(orderKeyOf(user, order), { user: userKeyOf(user), grant: { ...grant }, requestedAt });
  }

  /** Drops every token kept for `user` (after a revoke or delete). */
  forget(user: UserKey): void {
    const userKey = userKeyOf(user);
    this.#entries.deleteWhere((_key, entry) => entry.user === userKey);
  }
}
