import { z } from 'zod';
import type { AcsScope } from '../acs/scopes.js';
import {
  type IdentityRecord,
  type IdentityStore,
  type UserKey,
  userKeyOf,
  type Versioned,
} from '../identities/identity-store.js';
import { LruMap } from '../shared/lru-map.js';
import { sealingBinding, type TokenSealer } from './sealing/index.js';
import { CLOCK_SKEW_MS, type TokenGrant, type TokenOrder } from './tokens.js';

/**
 * AzureCommunicationTokenCredential treats a token within 10 minutes of expiry as expiring and refreshes it; a
 * token service that handed such a token back would make the client's refresher loop.
 */
export const MIN_REMAINING_MS = 10 * 60_000;

/**
 * Tokens issued earlier, handed back to a user who asks again for the same order instead of costing an ACS call.
 * A token is handed back only while it is worth reusing, only for the identity the user's current record names, and
 * never when it was asked for before the record's revocation time. Both adapters judge against the record the
 * request has just read, so a revocation or erasure recorded by any instance takes effect on the next request.
 */
export interface TokenReuse {
  /** A token issued earlier to `user` for `order` that may be handed back, judged against its current record. */
  find(user: UserKey, order: TokenOrder, current: Versioned): Promise<TokenGrant | undefined>;
  /** Keeps a token just issued (asked for at `requestedAt`) under the record `current` it was issued for. */
  remember(
    user: UserKey,
    order: TokenOrder,
    grant: TokenGrant,
    requestedAt: number,
    current: Versioned,
  ): Promise<void>;
}

/** Whether a token is still worth handing back at `now`: half its lifetime or more left, and over 10 minutes. */
export function isWorthReusing(expiresAt: number, requestedAt: number, now: number): boolean {
  const remaining = expiresAt - now;
  const lifetime = expiresAt - requestedAt;
  return remaining > MIN_REMAINING_MS && remaining * 2 >= lifetime;
}

/** Whether a token asked for at `requestedAt` may have been revoked by the record's revocation time. */
export function mayBeRevoked(requestedAt: number, revokedAt: string | undefined): boolean {
  return revokedAt !== undefined && requestedAt <= Date.parse(revokedAt) + CLOCK_SKEW_MS;
}

/** Scopes are a set: `voip,chat` asks for the same token as `chat,voip`. */
const orderKeyOf = (order: TokenOrder) =>
  JSON.stringify([[...new Set<AcsScope>(order.scopes)].sort(), order.expiresInMinutes]);

function usable(
  entry: { communicationUserId: string; expiresAt: number; requestedAt: number },
  record: IdentityRecord,
  now: number,
): boolean {
  return (
    entry.communicationUserId === record.communicationUserId &&
    !mayBeRevoked(entry.requestedAt, record.revokedAt) &&
    isWorthReusing(entry.expiresAt, entry.requestedAt, now)
  );
}

interface InstanceEntry {
  grant: TokenGrant;
  requestedAt: number;
}

/**
 * Reuse within this instance's memory (bounded, LRU): what serves when no sealing key is available, so tokens may
 * not be kept in the shared store. Another instance cannot see these tokens.
 */
export class InstanceTokenReuse implements TokenReuse {
  readonly #entries: LruMap<string, InstanceEntry>;
  readonly #clock: () => number;

  constructor(options: { maxEntries: number; clock?: () => number }) {
    this.#entries = new LruMap(options.maxEntries);
    this.#clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  async find(user: UserKey, order: TokenOrder, { record }: Versioned): Promise<TokenGrant | undefined> {
    const key = `${userKeyOf(user)}${orderKeyOf(order)}`;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const { grant, requestedAt } = entry;
    const keep = usable(
      { communicationUserId: grant.communicationUserId, expiresAt: grant.expiresOn.getTime(), requestedAt },
      record,
      this.#clock(),
    );
    if (!keep) this.#entries.delete(key);
    return keep ? { ...grant } : undefined;
  }

  async remember(user: UserKey, order: TokenOrder, grant: TokenGrant, requestedAt: number): Promise<void> {
    if (!isWorthReusing(grant.expiresOn.getTime(), requestedAt, this.#clock())) return;
    this.#entries.set(`${userKeyOf(user)}${orderKeyOf(order)}`, { grant: { ...grant }, requestedAt });
  }
}

const sharedEntriesSchema = z.array(
  z.object({
    order: z.string(),
    token: z.string(),
    expiresAt: z.number(),
    requestedAt: z.number(),
  }),
);
type SharedEntry = z.infer<typeof sharedEntriesSchema>[number];

/** Orders one user asks for are few (a scope set and a lifetime); a row keeps the most recent ones. */
const MAX_SHARED_ORDERS = 4;

/**
 * Reuse across the deployment: the tokens live in the user's record, sealed (authenticated encryption bound to the
 * issuer, user and identity, so a sealed value copied to another row does not open), and any instance that reads
 * the record can hand them back. Remembering is one conditional write per ACS issue, never per request; a write
 * that loses a race is dropped (the next request issues again). Revocation and erasure rewrite the record, so a
 * kept token goes with them. While the sealing key cannot be had (Key Vault unreachable), tokens are kept in this
 * instance's memory instead, judged by the same rules.
 */
export class SharedTokenReuse implements TokenReuse {
  readonly #clock: () => number;
  readonly #fallback: InstanceTokenReuse;
  /**
   * Sealed values already opened, by binding and value: a sealed value is authenticated and never changes, so a
   * known user's request reads its row and finds the tokens without decrypting and parsing them again.
   */
  readonly #opened: LruMap<string, SharedEntry[]>;

  constructor(
    private readonly store: IdentityStore,
    private readonly sealer: TokenSealer,
    options: { maxEntries: number; clock?: () => number },
  ) {
    this.#clock = options.clock ?? Date.now;
    this.#fallback = new InstanceTokenReuse(options);
    this.#opened = new LruMap(options.maxEntries);
  }

  async find(user: UserKey, order: TokenOrder, current: Versioned): Promise<TokenGrant | undefined> {
    const { record } = current;
    const { communicationUserId } = record;
    if (communicationUserId === undefined) return undefined;
    const key = orderKeyOf(order);
    const entry = (await this.#open(record)).find((candidate) => candidate.order === key);
    if (entry && usable({ communicationUserId, ...entry }, record, this.#clock())) {
      return { communicationUserId, token: entry.token, expiresOn: new Date(entry.expiresAt) };
    }
    return this.#fallback.find(user, order, current);
  }

  async remember(
    user: UserKey,
    order: TokenOrder,
    grant: TokenGrant,
    requestedAt: number,
    current: Versioned,
  ): Promise<void> {
    const { record, version } = current;
    const now = this.#clock();
    const expiresAt = grant.expiresOn.getTime();
    if (record.communicationUserId !== grant.communicationUserId) return;
    if (!isWorthReusing(expiresAt, requestedAt, now)) return;
    const key = orderKeyOf(order);
    const kept = (await this.#open(record)).filter(
      (entry) =>
        entry.order !== key &&
        usable({ communicationUserId: grant.communicationUserId, ...entry }, record, now),
    );
    const entries = [
      ...kept.slice(-(MAX_SHARED_ORDERS - 1)),
      { order: key, token: grant.token, expiresAt, requestedAt },
    ];
    let reusableTokens: string;
    try {
      reusableTokens = await this.sealer.seal(JSON.stringify(entries), bindingOf(record));
    } catch {
      await this.#fallback.remember(user, order, grant, requestedAt);
      return;
    }
    // The token is issued and answered either way; a lost race or a store hiccup only loses its reuse.
    await this.store.replace({ ...record, reusableTokens }, version).catch(() => undefined);
  }

  async #open(record: IdentityRecord): Promise<SharedEntry[]> {
    if (record.reusableTokens === undefined || record.communicationUserId === undefined) return [];
    const binding = bindingOf(record);
    const cacheKey = `${binding}\n${record.reusableTokens}`;
    const known = this.#opened.get(cacheKey);
    if (known) return known;
    const opened = await this.sealer.open(record.reusableTokens, binding);
    if (opened === undefined) return [];
    let entries: SharedEntry[];
    try {
      entries = sharedEntriesSchema.parse(JSON.parse(opened));
    } catch {
      return [];
    }
    this.#opened.set(cacheKey, entries);
    return entries;
  }
}

/** What a sealed value is bound to: the row it was written for, down to the identity. */
function bindingOf(record: IdentityRecord): string {
  return sealingBinding({
    issuer: record.issuer,
    userId: record.userId,
    communicationUserId: record.communicationUserId ?? '',
  });
}
