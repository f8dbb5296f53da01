import { LruMap } from '../cache/lru-map.js';
import type { IdentityMapping, IdentityStore, UserKey } from './identity-store.js';

export interface IdentityCacheOptions {
  /** How long a mapping read from the store may be served from memory: the staleness other instances' changes see. */
  ttlMs: number;
  maxEntries: number;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
}

interface CachedMapping {
  mapping: IdentityMapping;
  expiresAt: number;
}

const userKeyOf = (user: UserKey) => JSON.stringify([user.issuer, user.userId]);

/**
 * The identity store with each user's mapping (and its revocation time) kept in memory for at most `ttlMs`, so a
 * known user's request reads no storage. Writes made through it, and invalidate(), take effect here at once;
 * writes made by other instances are seen within `ttlMs`. Only mappings that exist are cached: a new user always
 * reaches the store, whose createIfAbsent settles races between instances.
 */
export class CachedIdentityStore implements IdentityStore {
  readonly #cache: LruMap<string, CachedMapping>;
  readonly #clock: () => number;
  /** Store reads under way per user; a write marks them stale, so a read that raced a write is not cached. */
  readonly #reads = new Map<string, { count: number; stale: boolean }>();

  constructor(
    private readonly inner: IdentityStore,
    private readonly options: IdentityCacheOptions,
  ) {
    this.#cache = new LruMap(options.maxEntries);
    this.#clock = options.clock ?? Date.now;
  }

  async get(user: UserKey): Promise<IdentityMapping | undefined> {
    const key = userKeyOf(user);
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > this.#clock()) return { ...cached.mapping };
    const reads = this.#reads.get(key) ?? { count: 0, stale: false };
    reads.count += 1;
    this.#reads.set(key, reads);
    try {
      const mapping = await this.inner.get(user);
      if (!reads.stale) this.#remember(key, mapping);
      return mapping;
    } finally {
      reads.count -= 1;
      if (reads.count === 0) this.#reads.delete(key);
    }
  }

  async createIfAbsent(mapping: IdentityMapping): Promise<{ mapping: IdentityMapping; created: boolean }> {
    const key = this.#invalidate(mapping);
    const result = await this.inner.createIfAbsent(mapping);
    this.#invalidate(mapping);
    this.#remember(key, result.mapping);
    return result;
  }

  async markRevoked(user: UserKey, at: Date): Promise<IdentityMapping> {
    const key = this.#invalidate(user);
    try {
      const updated = await this.inner.markRevoked(user, at);
      this.#invalidate(user);
      this.#remember(key, updated);
      return updated;
    } catch (error) {
      this.#invalidate(user);
      throw error;
    }
  }

  async delete(user: UserKey, communicationUserId: string): Promise<boolean> {
    this.#invalidate(user);
    try {
      return await this.inner.delete(user, communicationUserId);
    } finally {
      this.#invalidate(user);
    }
  }

  list(): AsyncIterable<IdentityMapping> {
    return this.inner.list();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  /**
   * Forgets the user's mapping here, including what reads already under way will return, so the next read asks
   * the store. For writes made around this cache (revoke and delete use the store directly).
   */
  invalidate(user: UserKey): void {
    this.#invalidate(user);
  }

  #invalidate(user: UserKey): string {
    const key = userKeyOf(user);
    this.#cache.delete(key);
    const reads = this.#reads.get(key);
    if (reads) reads.stale = true;
    return key;
  }

  #remember(key: string, mapping: IdentityMapping | undefined): void {
    if (mapping === undefined) return;
    this.#cache.set(key, { mapping: { ...mapping }, expiresAt: this.#clock() + this.options.ttlMs });
  }
}

/** The store with its mappings cached per IDENTITY_CACHE_TTL_SECONDS; undefined when the TTL is 0 (no cache). */
export function cacheIdentityMappings(
  store: IdentityStore,
  cache: { ttlSeconds: number; maxEntries: number },
): CachedIdentityStore | undefined {
  if (cache.ttlSeconds === 0) return undefined;
  return new CachedIdentityStore(store, { ttlMs: cache.ttlSeconds * 1000, maxEntries: cache.maxEntries });
}
