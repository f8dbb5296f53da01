import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { IdentityStoreUnavailableError } from '../identities/identity-store.js';
import { LruMap } from '../shared/lru-map.js';
import { asUnavailable, errorCode, hasStatus } from '../shared/table-client.js';
import type { Admission, Clock } from '../shared/token-buckets.js';
import type { RateLimitStore } from './rate-limit-store.js';

export interface TableRateLimitStoreOptions {
  perMinute: number;
  /** Keys whose last written state (with its ETag) this instance remembers. Default 10,000. */
  maxKnownKeys?: number;
  /**
   * Wall-clock milliseconds: instances compare the times they wrote, so this must be a shared clock (Date.now on
   * NTP-synchronised hosts), not a monotonic one. A skew of s seconds between instances shifts refills by s.
   */
  now?: Clock;
  /** Time budget of one take, waiting for earlier takes of the same key included. Default 5 s. */
  operationTimeoutMs?: number;
}

const ALLOWED: Admission = Object.freeze({ allowed: true });
const REFILL_MS = 60_000;
const DEFAULT_MAX_KNOWN_KEYS = 10_000;
const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;
/**
 * Conditional-write rounds before a take gives up. Takes of one key are queued within an instance, so every lost
 * round means another instance won one; past this many the key is under a flood and the request is refused.
 */
const MAX_CONFLICT_ROUNDS = 10;
/** Hex digits of the key hash that name the partition: 256 partitions, so no issuer is one hot partition. */
const PARTITION_DIGITS = 2;

interface BucketState {
  tokens: number;
  updatedMs: number;
  etag: string;
}

/** What the table holds for a key: the level at the last write and when that was. */
interface BucketEntity {
  tokens: number;
  updatedMs: number;
}

/**
 * Token buckets in Azure Table Storage, shared by every instance: one entity per key, holding the bucket level and
 * the time it was written. A take writes the new level with the ETag it last saw (If-Match), so two instances can
 * never both spend the same token; a 412 means another instance wrote first and the take reads and decides again.
 * Each instance remembers the last state and ETag it wrote per key, so the usual take is one conditional write.
 * Refusals cost no write: other instances only ever lower a bucket, so a level this instance computes from its last
 * known state is an upper bound of the true one, and an empty bucket is refused from memory.
 *
 * Rows carry a SHA-256 of the key, never a user id. A row per user stays after the user is gone (a full bucket
 * looks the same as no row, so operators may delete rows older than a minute at any time).
 */
export class TableRateLimitStore implements RateLimitStore {
  readonly #client: TableClient;
  readonly #capacity: number;
  readonly #msPerToken: number;
  readonly #now: Clock;
  readonly #operationTimeoutMs: number;
  readonly #known: LruMap<string, BucketState>;
  readonly #queues = new Map<string, Promise<unknown>>();
  #ready: Promise<unknown> | undefined;

  constructor(client: TableClient, options: TableRateLimitStoreOptions) {
    if (!(options.perMinute >= 1)) throw new RangeError('perMinute must be at least 1');
    this.#client = client;
    this.#capacity = options.perMinute;
    this.#msPerToken = REFILL_MS / options.perMinute;
    this.#now = options.now ?? Date.now;
    this.#operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    this.#known = new LruMap(options.maxKnownKeys ?? DEFAULT_MAX_KNOWN_KEYS);
  }

  /** Takes of one key run one after another in this instance, so its own requests never race each other. */
  take(key: string): Promise<Admission> {
    // The row key stands for the key in memory too: user ids may be kilobytes long, the hash never is.
    const keys = tableKeysOf(key);
    const abortSignal = AbortSignal.timeout(this.#operationTimeoutMs);
    const previous = this.#queues.get(keys.rowKey) ?? Promise.resolve();
    const run = previous.then(() => this.#guarded(keys, abortSignal));
    const settled = run.catch(() => undefined);
    this.#queues.set(keys.rowKey, settled);
    void settled.then(() => {
      if (this.#queues.get(keys.rowKey) === settled) this.#queues.delete(keys.rowKey);
    });
    return run;
  }

  async #guarded(keys: TableKeys, abortSignal: AbortSignal): Promise<Admission> {
    try {
      if (abortSignal.aborted) throw abortSignal.reason;
      this.#ready ??= this.#client.createTable({ abortSignal });
      await this.#ready;
      return await this.#take(keys, abortSignal);
    } catch (error) {
      // The table may be gone (a restarted Azurite, a recreated account): check it again next time.
      this.#ready = undefined;
      this.#known.delete(keys.rowKey);
      throw asUnavailable(error) ?? error;
    }
  }

  async #take({ partitionKey, rowKey }: TableKeys, abortSignal: AbortSignal): Promise<Admission> {
    let state: BucketState | 'absent' | undefined = this.#known.get(rowKey);
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
      state ??= await this.#read(partitionKey, rowKey, abortSignal);
      const now = this.#now();
      try {
        if (state === 'absent') {
          const written = { tokens: this.#capacity - 1, updatedMs: now };
          const { etag } = await this.#client.createEntity(
            { partitionKey, rowKey, ...toProperties(written) },
            { abortSignal },
          );
          this.#remember(rowKey, written, etag);
          return ALLOWED;
        }
        const level = this.#level(state, now);
        if (level < 1) return this.#refusal(level);
        const written = { tokens: level - 1, updatedMs: now };
        const { etag } = await this.#client.updateEntity(
          { partitionKey, rowKey, ...toProperties(written) },
          'Replace',
          { etag: state.etag, abortSignal },
        );
        this.#remember(rowKey, written, etag);
        return ALLOWED;
      } catch (error) {
        // 409: another instance created the row first; 412: it wrote since our ETag; 404: the row was deleted.
        if (!hasStatus(error, 409) && !hasStatus(error, 412) && !hasStatus(error, 404)) throw error;
        this.#known.delete(rowKey);
        state = undefined;
      }
    }
    return { allowed: false, retryAfterSeconds: 1 };
  }

  async #read(
    partitionKey: string,
    rowKey: string,
    abortSignal: AbortSignal,
  ): Promise<BucketState | 'absent'> {
    try {
      const entity = await this.#client.getEntity<BucketEntity>(partitionKey, rowKey, { abortSignal });
      const tokens = Number(entity.tokens);
      const updatedMs = Number(entity.updatedMs);
      if (!Number.isFinite(tokens) || !Number.isFinite(updatedMs) || entity.etag === undefined) {
        throw new IdentityStoreUnavailableError('A rate-limit row is malformed');
      }
      return { tokens, updatedMs, etag: entity.etag };
    } catch (error) {
      if (hasStatus(error, 404) && errorCode(error) !== 'TableNotFound') return 'absent';
      throw error;
    }
  }

  #remember(rowKey: string, written: BucketEntity, etag: string | undefined): void {
    if (etag === undefined) this.#known.delete(rowKey);
    else this.#known.set(rowKey, { ...written, etag });
  }

  #level(state: BucketEntity, now: number): number {
    return Math.min(this.#capacity, state.tokens + Math.max(0, now - state.updatedMs) / this.#msPerToken);
  }

  #refusal(level: number): Admission {
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(((1 - level) * this.#msPerToken) / 1000)),
    };
  }
}

interface TableKeys {
  partitionKey: string;
  rowKey: string;
}

/**
 * A key's row: the SHA-256 of its UTF-16 code units in hex (lone surrogates included, which UTF-8 would merge), the
 * first digits of which spread keys over partitions.
 */
export function tableKeysOf(key: string): TableKeys {
  const rowKey = createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex');
  return { partitionKey: rowKey.slice(0, PARTITION_DIGITS), rowKey };
}

/** Typed as Double explicitly: an untyped integer would be stored as Int32, which epoch milliseconds overflow. */
function toProperties({ tokens, updatedMs }: BucketEntity) {
  return {
    tokens: { value: String(tokens), type: 'Double' as const },
    updatedMs: { value: String(updatedMs), type: 'Double' as const },
  };
}
