import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../../src/shared/token-buckets.js';

function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('TokenBuckets', () => {
  it('allows a full minute at once, then refuses with the seconds until the next token', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 6, maxBuckets: 10, now: clock.now });
    for (let index = 0; index < 6; index++) expect(buckets.take('alice')).toEqual({ allowed: true });
    expect(buckets.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 10 });
    clock.advance(4_000);
    expect(buckets.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 6 });
  });

  it('refills one token every 60/perMinute seconds, never beyond the bucket size', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 6, maxBuckets: 10, now: clock.now });
    for (let index = 0; index < 6; index++) buckets.take('alice');
    clock.advance(10_000);
    expect(buckets.take('alice').allowed).toBe(true);
    expect(buckets.take('alice').allowed).toBe(false);

    clock.advance(10 * 60_000);
    const allowed = Array.from({ length: 8 }, () => buckets.take('alice').allowed);
    expect(allowed.filter(Boolean)).toHaveLength(6);
  });

  it('keeps keys apart', () => {
    const buckets = new TokenBuckets({ perMinute: 1, maxBuckets: 10, now: manualClock().now });
    expect(buckets.take('alice').allowed).toBe(true);
    expect(buckets.take('alice').allowed).toBe(false);
    expect(buckets.take('bob').allowed).toBe(true);
  });

  it('check() tells without spending', () => {
    const buckets = new TokenBuckets({ perMinute: 1, maxBuckets: 10, now: manualClock().now });
    expect(buckets.check('alice').allowed).toBe(true);
    expect(buckets.check('alice').allowed).toBe(true);
    expect(buckets.take('alice').allowed).toBe(true);
    expect(buckets.check('alice')).toEqual({ allowed: false, retryAfterSeconds: 60 });
  });

  it('answers Retry-After in whole seconds, at least 1, even when tokens come faster', () => {
    const buckets = new TokenBuckets({ perMinute: 6_000, maxBuckets: 10, now: manualClock().now });
    for (let index = 0; index < 6_000; index++) buckets.take('alice');
    expect(buckets.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('does not grant tokens when the clock goes backwards', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 1, maxBuckets: 10, now: clock.now });
    buckets.take('alice');
    clock.advance(-30_000);
    expect(buckets.take('alice').allowed).toBe(false);
  });

  it('forgets keys idle for a minute (refilled, so nothing is lost), and keeps the ones still seen', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 2, maxBuckets: 1_000, now: clock.now });
    for (let index = 0; index < 100; index++) buckets.take(`user-${index}`);
    buckets.take('busy');
    buckets.take('busy');
    expect(buckets.size).toBe(101);
    for (let minute = 0; minute < 3; minute++) {
      clock.advance(60_000);
      expect(buckets.take('busy').allowed).toBe(true);
      expect(buckets.take('busy').allowed).toBe(true);
      expect(buckets.take('busy').allowed).toBe(false);
    }
    expect(buckets.size).toBe(1);
    expect(buckets.take('user-0').allowed).toBe(true);
  });

  it('never tracks more than maxBuckets keys; the least recently seen are forgotten first', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 1, maxBuckets: 100, now: clock.now });
    buckets.take('abuser');
    let largest = 0;
    for (let index = 0; index < 10_000; index++) {
      buckets.take(`rotated-${index}`);
      if (index % 20 === 0) buckets.take('abuser'); // refused, but seen again
      largest = Math.max(largest, buckets.size);
    }
    expect(largest).toBeLessThanOrEqual(100);
    expect(buckets.take('abuser').allowed).toBe(false);
    expect(buckets.take('rotated-9999').allowed).toBe(false);
    expect(buckets.take('rotated-0').allowed).toBe(true); // forgotten, so full again
  });

  it('takes back a token given back, never beyond the bucket size', () => {
    const clock = manualClock();
    const buckets = new TokenBuckets({ perMinute: 2, maxBuckets: 10, now: clock.now });
    buckets.take('alice');
    buckets.take('alice');
    expect(buckets.take('alice').allowed).toBe(false);
    buckets.giveBack('alice');
    expect(buckets.take('alice').allowed).toBe(true);
    expect(buckets.take('alice').allowed).toBe(false);
    // Given back to a full bucket (or an untracked key), nothing is added.
    clock.advance(60_000);
    buckets.giveBack('alice');
    buckets.giveBack('bob');
    for (const key of ['alice', 'bob']) {
      expect(buckets.take(key).allowed).toBe(true);
      expect(buckets.take(key).allowed).toBe(true);
      expect(buckets.take(key).allowed).toBe(false);
    }
  });

  it('refuses nonsense sizes', () => {
    expect(() => new TokenBuckets({ perMinute: 0, maxBuckets: 10 })).toThrow(RangeError);
    expect(() => new TokenBuckets({ perMinute: 10, maxBuckets: 0 })).toThrow(RangeError);
  });
});
