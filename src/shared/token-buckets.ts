/** Milliseconds from an arbitrary start that never goes backwards; injectable so tests need not wait. */
export type Clock = () => number;

/** Keys per kind of bucket in memory: about 300 bytes each with an Entra issuer in the key, so a few MB at most. */
export const DEFAULT_MAX_BUCKETS = 20_000;

export interface TokenBucketsOptions {
  /** Tokens added per minute; also the bucket size, so a full minute's worth may be spent at once. */
  perMinute: number;
  /** Most keys tracked at once: beyond it the least recently seen keys are forgotten, so memory stays bounded. */
  maxBuckets: number;
  now?: Clock;
}

export type Admission =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

const ALLOWED: Admission = Object.freeze({ allowed: true });
/** Any bucket refills completely within a minute (its size is the per-minute rate). */
const REFILL_MS = 60_000;

/**
 * One token bucket per key; a key not tracked is a full bucket. Keys live in two generations: a key seen moves to the
 * current one, and the older one is dropped whenever the current one holds half of `maxBuckets` or has lasted a
 * minute. A dropped key was either idle a whole minute (so refilled: nothing lost) or pushed out by many newer keys
 * (the price of a memory bound). Every operation is O(1); no scan, no timer.
 */
export class TokenBuckets {
  private current = new Map<string, Bucket>();
  private previous = new Map<string, Bucket>();
  private generationStartMs: number;
  private readonly capacity: number;
  private readonly msPerToken: number;
  private readonly generationSize: number;
  private readonly now: Clock;

  constructor({ perMinute, maxBuckets, now = () => performance.now() }: TokenBucketsOptions) {
    if (!(perMinute >= 1) || !(maxBuckets >= 1))
      throw new RangeError('perMinute and maxBuckets must be at least 1');
    this.capacity = perMinute;
    this.msPerToken = REFILL_MS / perMinute;
    this.generationSize = Math.max(1, Math.floor(maxBuckets / 2));
    this.now = now;
    this.generationStartMs = now();
  }

  /** Spends one token of `key` if it has one. */
  take(key: string): Admission {
    return this.admit(key, true);
  }

  /** Whether `key` has a token, without spending it. */
  check(key: string): Admission {
    return this.admit(key, false);
  }

  /**
   * Returns one token taken from `key` (never beyond the bucket size): a caller that reserves a token before work
   * whose outcome decides the charge gives it back when the work turns out free. A key no longer tracked is full.
   */
  giveBack(key: string): void {
    const now = this.now();
    const bucket = this.current.get(key) ?? this.previous.get(key);
    if (bucket) this.store(key, Math.min(this.capacity, this.level(bucket, now) + 1), now);
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private admit(key: string, spend: boolean): Admission {
    const now = this.now();
    if (now - this.generationStartMs >= REFILL_MS) this.startGeneration(now);
    const tokens = this.level(this.current.get(key) ?? this.previous.get(key), now);
    if (tokens >= 1) {
      if (spend) this.store(key, tokens - 1, now);
      return ALLOWED;
    }
    // A refused key is kept as recently seen, so an active abuser is the last to be forgotten.
    this.store(key, tokens, now);
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(((1 - tokens) * this.msPerToken) / 1000)),
    };
  }

  private level(bucket: Bucket | undefined, now: number): number {
    if (!bucket) return this.capacity;
    return Math.min(this.capacity, bucket.tokens + Math.max(0, now - bucket.updatedMs) / this.msPerToken);
  }

  private store(key: string, tokens: number, now: number): void {
    this.previous.delete(key);
    this.current.set(key, { tokens, updatedMs: now });
    if (this.current.size >= this.generationSize) this.startGeneration(now);
  }

  private startGeneration(now: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.generationStartMs = now;
  }
}
