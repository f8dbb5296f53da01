import { z } from 'zod';
import type { AcsScope } from '../acs/scopes.js';
import { type IdentityRecord, type UserKey, userKeyOf } from '../identities/identity-store.js';
import { LruMap } from '../shared/lru-map.js';
import { sealingBinding, type TokenSealer } from './sealing/index.js';
import type { TokenGrant, TokenOrder } from './tokens.js';

/**
 * AzureCommunicationTokenCredential treats a token within 10 minutes of expiry as expiring and refreshes it; a
 * token service that handed such a token back would make the client's refresher loop.
 */
export const MIN_REMAINING_MS = 10 * 60_000;

/**
 * Tokens issued earlier, handed back to a user who asks again for the same order instead of costing an ACS call.
 * Pure judgements on the user's record as just read, plus the sealer: the row's owner (src/identities/user-row.ts)
 * does every read and write. A token is handed back only for the identity the record names, only while no revoke
 * is under way, and only if it was issued under the record's current revocation count: no clock decides it, so a
 * revoke takes effect on the next read of the row by any instance, without a pause.
 */
export interface TokenReuse {
  /** A token issued earlier to `user` for `order` that may be handed back at `now` (the store's time). */
  find(
    user: UserKey,
    order: TokenOrder,
    record: IdentityRecord,
    now: number,
  ): Promise<TokenGrant | undefined>;
  /**
   * Keeps `grant` (asked for at `requestedAt`, issued under `record`): the row's new `reusableTokens` when they are
   * shared through the row, undefined when kept in this instance's memory (or not worth keeping).
   */
  keep(
    user: UserKey,
    order: TokenOrder,
    grant: TokenGrant,
    requestedAt: number,
    record: IdentityRecord,
  ): Promise<string | undefined>;
}

/** Whether a token is still worth handing back at `now`: half its lifetime or more left, and over 10 minutes. */
export function isWorthReusing(expiresAt: number, requestedAt: number, now: number): boolean {
  const remaining = expiresAt - now;
  const lifetime = expiresAt - requestedAt;
  return remaining > MIN_REMAINING_MS && remaining * 2 >= lifetime;
}

/** Scopes are a set: `voip,chat` asks for the same token as `chat,voip`. */
const orderKeyOf = (order: TokenOrder) =>
  JSON.stringify([[...new Set<AcsScope>(order.scopes)].sort(), order.expiresInMinutes]);

interface KeptEntry {
  communicationUserId: string;
  revocation: number;
  expiresAt: number;
  requestedAt: number;
}

/** Whether a kept token may be handed back under `record` at `now`. */
export function usable(entry: KeptEntry, record: IdentityRecord, now: number): boolean {
  return (
    entry.communicationUserId === record.communicationUserId &&
    record.revoking === undefined &&
    entry.revocation === (record.revocation ?? 0) &&
    isWorthReusing(entry.expiresAt, entry.requestedAt, now)
  );
}

/** What is kept of a token just issued under `record`. */
function entryOf(grant: TokenGrant, requestedAt: number, record: IdentityRecord): KeptEntry {
  return {
    communicationUserId: grant.communicationUserId,
    revocation: record.revocation ?? 0,
    expiresAt: grant.expiresOn.getTime(),
    requestedAt,
  };
}

interface InstanceEntry extends KeptEntry {
  grant: TokenGrant;
}

/**
 * Reuse within this instance's memory (bounded, LRU): what serves when no sealing key is available, so tokens may
 * not be kept in the shared store. Another instance cannot see these tokens.
 */
export class InstanceTokenReuse implements TokenReuse {
  readonly #entries: LruMap<string, InstanceEntry>;

  constructor(options: { maxEntries: number }) {
    this.#entries = new LruMap(options.maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  async find(user: UserKey, order: TokenOrder, record: IdentityRecord, now: number) {
    const key = `${userKeyOf(user)}${orderKeyOf(order)}`;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    const keep = usable(entry, record, now);
    if (!keep) this.#entries.delete(key);
    return keep ? { ...entry.grant } : undefined;
  }

  async keep(
    user: UserKey,
    order: TokenOrder,
    grant: TokenGrant,
    requestedAt: number,
    record: IdentityRecord,
  ): Promise<undefined> {
    const entry = entryOf(grant, requestedAt, record);
    if (!usable(entry, record, requestedAt)) return undefined;
    this.#entries.set(`${userKeyOf(user)}${orderKeyOf(order)}`, { ...entry, grant: { ...grant } });
    return undefined;
  }
}

const sharedEntriesSchema = z.array(
  z.object({
    order: z.string(),
    token: z.string(),
    revocation: z.int(),
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
 * the record can hand them back. While the sealing key cannot be had (Key Vault unreachable), tokens are kept in
 * this instance's memory instead, judged by the same rules.
 */
export class SharedTokenReuse implements TokenReuse {
  readonly #fallback: InstanceTokenReuse;
  /**
   * Sealed values already opened, by binding and value: a sealed value is authenticated and never changes, so a
   * known user's request reads its row and finds the tokens without decrypting and parsing them again.
   */
  readonly #opened: LruMap<string, SharedEntry[]>;

  constructor(
    private readonly sealer: TokenSealer,
    options: { maxEntries: number },
  ) {
    this.#fallback = new InstanceTokenReuse(options);
    this.#opened = new LruMap(options.maxEntries);
  }

  async find(user: UserKey, order: TokenOrder, record: IdentityRecord, now: number) {
    const { communicationUserId } = record;
    if (communicationUserId === undefined) return undefined;
    const key = orderKeyOf(order);
    const entry = (await this.#open(record)).find((candidate) => candidate.order === key);
    if (entry && usable({ communicationUserId, ...entry }, record, now)) {
      return { communicationUserId, token: entry.token, expiresOn: new Date(entry.expiresAt) };
    }
    return this.#fallback.find(user, order, record, now);
  }

  async keep(
    user: UserKey,
    order: TokenOrder,
    grant: TokenGrant,
    requestedAt: number,
    record: IdentityRecord,
  ): Promise<string | undefined> {
    const { communicationUserId } = grant;
    const entry = entryOf(grant, requestedAt, record);
    if (!usable(entry, record, requestedAt)) return undefined;
    const key = orderKeyOf(order);
    const kept = (await this.#open(record)).filter(
      (entry) => entry.order !== key && usable({ communicationUserId, ...entry }, record, requestedAt),
    );
    const entries = [
      ...kept.slice(-(MAX_SHARED_ORDERS - 1)),
      {
        order: key,
        token: grant.token,
        revocation: entry.revocation,
        expiresAt: entry.expiresAt,
        requestedAt,
      },
    ];
    try {
      return await this.sealer.seal(JSON.stringify(entries), bindingOf(record));
    } catch {
      return this.#fallback.keep(user, order, grant, requestedAt, record);
    }
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
