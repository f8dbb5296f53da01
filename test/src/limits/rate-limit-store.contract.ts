import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../../src/limits/rate-limit-store.js';

/** A clock the test moves; the start is wall-clock time, as the table adapter's rows hold it. */
export function manualClock() {
  let now = Date.now();
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

export type Clock = ReturnType<typeof manualClock>;

/**
 * What every RateLimitStore adapter must do. `createStores` gives `count` stores that share their buckets (for the
 * table adapter: instances over one table, as several app instances are; for memory: the one store `count` times)
 * at `perMinute`, all reading `clock`.
 */
export function describeRateLimitStoreContract(
  adapter: string,
  createStores: (perMinute: number, clock: Clock, count: number) => Promise<RateLimitStore[]>,
) {
  const newKey = () => JSON.stringify(['https://issuer.test', `user-${randomUUID()}`]);

  describe(`${adapter} honours the RateLimitStore contract`, () => {
    it('admits a minute’s worth at once, then refuses with the seconds until the next token', async () => {
      const clock = manualClock();
      const [store] = (await createStores(4, clock, 1)) as [RateLimitStore];
      const key = newKey();
      for (let index = 0; index < 4; index++) expect(await store.take(key)).toEqual({ allowed: true });
      expect(await store.take(key)).toEqual({ allowed: false, retryAfterSeconds: 15 });
      clock.advance(9_000);
      expect(await store.take(key)).toEqual({ allowed: false, retryAfterSeconds: 6 });
    });

    it('refills one token every 60/perMinute seconds, never beyond a minute’s worth', async () => {
      const clock = manualClock();
      const [store] = (await createStores(4, clock, 1)) as [RateLimitStore];
      const key = newKey();
      for (let index = 0; index < 4; index++) await store.take(key);
      clock.advance(15_000);
      expect((await store.take(key)).allowed).toBe(true);
      expect((await store.take(key)).allowed).toBe(false);
      clock.advance(10 * 60_000);
      for (let index = 0; index < 4; index++) expect((await store.take(key)).allowed).toBe(true);
      expect((await store.take(key)).allowed).toBe(false);
    });

    it('keeps keys apart, lone surrogates and long keys included', async () => {
      const clock = manualClock();
      const [store] = (await createStores(1, clock, 1)) as [RateLimitStore];
      const base = newKey();
      const keys = [base, `${base}x`, `${base}\uD800`, `${base}\uDC00`, `${base}\uFFFD`, base.repeat(300)];
      for (const key of keys) expect((await store.take(key)).allowed, key.slice(-8)).toBe(true);
      for (const key of keys) expect((await store.take(key)).allowed, key.slice(-8)).toBe(false);
    });

    it('never admits more than the bucket holds when takes arrive at once, over every store sharing it', async () => {
      const clock = manualClock();
      const stores = await createStores(10, clock, 2);
      const key = newKey();
      const admissions = await Promise.all(
        Array.from({ length: 40 }, (_, index) => stores[index % stores.length]!.take(key)),
      );
      expect(admissions.filter((admission) => admission.allowed)).toHaveLength(10);
      // And the bucket stays shared afterwards: a token refilled is spent once, wherever it is taken.
      clock.advance(6_000);
      const next = await Promise.all(stores.flatMap((store) => [store.take(key), store.take(key)]));
      expect(next.filter((admission) => admission.allowed)).toHaveLength(1);
    });
  });
}
