import { z } from 'zod';

export const faultSettingsSchema = z.strictObject({
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  failRate: z.number().min(0).max(1).optional(),
  failStatus: z.union([z.literal(429), z.literal(500), z.literal(503)]).optional(),
  throttle: z.boolean().optional(),
  /** Retry-After (seconds) sent with injected 429/503 faults; 0 lets tests exercise retries without waiting. */
  retryAfterSeconds: z.number().int().min(0).max(3600).optional(),
});
export type FaultSettings = z.infer<typeof faultSettingsSchema>;

/** The service limits per ACS resource and 30 seconds (shared doc); over the limit the service answers 429. */
export const throttleWindowMs = 30_000;
export const throttleLimits = {
  createIdentity: 1000,
  createIdentityWithToken: 1000,
  deleteIdentity: 500,
  issueToken: 1000,
  revokeTokens: 500,
  exchangeTeamsToken: 500,
} as const;
export type ThrottleBucket = keyof typeof throttleLimits;

export type FaultDecision =
  | { fail: false }
  | { fail: true; status: 429 | 500 | 503; headers: Record<string, string> };

/**
 * Injected latency, failures and throttling. Failures follow a deterministic schedule rather than a random draw:
 * with rate R, call n fails exactly when floor((n + 1) * R) > floor(n * R), so any run of calls fails the same
 * calls every time and the failed share is exactly R.
 */
export class Faults {
  private settings: Required<FaultSettings> = {
    latencyMs: 0,
    failRate: 0,
    failStatus: 503,
    throttle: false,
    retryAfterSeconds: 1,
  };
  private callsSeen = 0;
  private readonly windows = new Map<ThrottleBucket, { startMs: number; count: number }>();

  constructor(initial: FaultSettings = {}) {
    this.update(initial);
  }

  update(changes: FaultSettings): void {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    this.settings = { ...this.settings, ...defined };
    this.callsSeen = 0;
    if (!this.settings.throttle) this.windows.clear();
  }

  get latencyMs(): number {
    return this.settings.latencyMs;
  }

  nextCall(): FaultDecision {
    const n = this.callsSeen++;
    const rate = this.settings.failRate;
    if (Math.floor((n + 1) * rate) <= Math.floor(n * rate)) return { fail: false };
    const status = this.settings.failStatus;
    const headers: Record<string, string> =
      status === 500 ? {} : { 'retry-after': String(this.settings.retryAfterSeconds) };
    return { fail: true, status, headers };
  }

  /** Counts a call against its bucket; returns the Retry-After seconds when the bucket is over its limit. */
  throttle(bucket: ThrottleBucket, nowMs: number): number | undefined {
    if (!this.settings.throttle) return undefined;
    let window = this.windows.get(bucket);
    if (!window || nowMs - window.startMs >= throttleWindowMs) {
      window = { startMs: nowMs, count: 0 };
      this.windows.set(bucket, window);
    }
    if (window.count >= throttleLimits[bucket]) {
      return Math.max(1, Math.ceil((window.startMs + throttleWindowMs - nowMs) / 1000));
    }
    window.count += 1;
    return undefined;
  }
}
