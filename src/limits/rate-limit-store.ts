import type { Admission } from '../shared/token-buckets.js';

/**
 * The rate-limit store port: one token bucket per key (a verified user), RATE_LIMIT_PER_MINUTE tokens refilled per
 * minute, the bucket size a minute's worth. Adapters: memory (this instance alone) and table (every instance that
 * shares the identity table's storage account counts into the same buckets).
 */
export interface RateLimitStore {
  /** Spends one token of `key` if it has one; refused admissions say when the next token arrives. */
  take(key: string): Promise<Admission>;
}
