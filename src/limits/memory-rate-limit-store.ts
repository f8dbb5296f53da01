import { type Admission, type Clock, TokenBuckets } from '../shared/token-buckets.js';
import type { RateLimitStore } from './rate-limit-store.js';

export interface MemoryRateLimitStoreOptions {
  perMinute: number;
  maxBuckets: number;
  now?: Clock;
}

/** Buckets in this instance's memory: exact and free, but each instance counts alone. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #buckets: TokenBuckets;

  constructor(options: MemoryRateLimitStoreOptions) {
    this.#buckets = new TokenBuckets(options);
  }

  async take(key: string): Promise<Admission> {
    return this.#buckets.take(key);
  }
}
