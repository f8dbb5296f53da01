import { describe, expect, it } from 'vitest';
import type { TokenGrant, TokenOrder } from '../../../src/identities/provisioning.js';
import {
  isWorthReusing,
  MIN_REMAINING_MS,
  REVOCATION_CLOCK_SKEW_MS,
  TokenReuseCache,
} from '../../../src/tokens/token-reuse.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const alice = { issuer: 'https://issuer.example', userId: 'alice' };
const bob = { issuer: 'https://issuer.example', userId: 'bob' };
const aliceIdentity = '8:acs:00000000-0000-0000-0000-000000000001_a';
const bobIdentity = '8:acs:00000000-0000-0000-0000-000000000001_b';
const chatVoip: TokenOrder = { scopes: ['chat', 'voip'], expiresInMinutes: 60 };

function grant(
  communicationUserId: string,
  lifetimeMinutes: number,
  issuedAt = T0,
  token = `token-${Math.random()}`,
): TokenGrant {
  return { communicationUserId, token, expiresOn: new Date(issuedAt + lifetimeMinutes * MINUTE) };
}

/** A cache on a clock the test moves by hand. */
function cacheAt(start = T0, maxEntries = 100) {
  const clock = { now: start };
  const cache = new TokenReuseCache({ maxEntries, clock: () => clock.now });
  return { cache, clock };
}

describe('TokenReuseCache', () => {
  it('hands back the same token for the same scopes in any order and the same expiry', () => {
    const { cache, clock } = cacheAt();
    const issued = grant(aliceIdentity, 60);
    cache.remember(alice, chatVoip, issued, T0);
    clock.now = T0 + 5 * MINUTE;

    expect(
      cache.find(
        alice,
        { scopes: ['voip', 'chat'], expiresInMinutes: 60 },
        { communicationUserId: aliceIdentity },
      ),
    ).toEqual(issued);
    expect(
      cache.find(
        alice,
        { scopes: ['chat', 'voip', 'chat'], expiresInMinutes: 60 },
        { communicationUserId: aliceIdentity },
      )?.token,
    ).toBe(issued.token);
  });

  it('keeps different scopes, expiries and users apart', () => {
    const { cache } = cacheAt();
    cache.remember(alice, chatVoip, grant(aliceIdentity, 60), T0);

    expect(
      cache.find(alice, { scopes: ['chat'], expiresInMinutes: 60 }, { communicationUserId: aliceIdentity }),
    ).toBeUndefined();
    expect(
      cache.find(
        alice,
        { scopes: ['chat', 'voip'], expiresInMinutes: 120 },
        { communicationUserId: aliceIdentity },
      ),
    ).toBeUndefined();
    expect(cache.find(bob, chatVoip, { communicationUserId: aliceIdentity })).toBeUndefined();
  });

  it('reuses a token while at least half of its lifetime is left, and not after', () => {
    const { cache, clock } = cacheAt();
    const issued = grant(aliceIdentity, 60);
    cache.remember(alice, chatVoip, issued, T0);

    clock.now = T0 + 30 * MINUTE;
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })?.token).toBe(issued.token);
    clock.now = T0 + 30 * MINUTE + 1;
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeUndefined();
    // A miss drops the entry: going back in time does not revive it.
    clock.now = T0;
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('never hands back a token 10 minutes or less from expiry, even with half its lifetime left', () => {
    const { cache, clock } = cacheAt();
    // ACS may issue a shorter token than asked for; with 16 minutes of life the 10-minute floor binds first.
    const short = grant(aliceIdentity, 16);
    cache.remember(alice, chatVoip, short, T0);

    clock.now = T0 + 5 * MINUTE;
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })?.token).toBe(short.token);
    clock.now = T0 + 6 * MINUTE;
    expect(isWorthReusing(short, T0, clock.now)).toBe(false);
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeUndefined();
  });

  it('does not keep a token that is not worth reusing in the first place', () => {
    const { cache } = cacheAt();
    cache.remember(alice, chatVoip, grant(aliceIdentity, MIN_REMAINING_MS / MINUTE), T0);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries tokens, dropping the least recently used', () => {
    const { cache } = cacheAt(T0, 2);
    const carol = { issuer: alice.issuer, userId: 'carol' };
    cache.remember(alice, chatVoip, grant(aliceIdentity, 60), T0);
    cache.remember(bob, chatVoip, grant(bobIdentity, 60), T0);
    // Alice's token is used, so Bob's becomes the least recently used one.
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeDefined();
    cache.remember(carol, chatVoip, grant('8:acs:x_c', 60), T0);

    expect(cache.size).toBe(2);
    expect(cache.find(bob, chatVoip, { communicationUserId: bobIdentity })).toBeUndefined();
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeDefined();
    expect(cache.find(carol, chatVoip, { communicationUserId: '8:acs:x_c' })).toBeDefined();
  });

  it('forget drops every token of one user and no one else', () => {
    const { cache } = cacheAt();
    cache.remember(alice, chatVoip, grant(aliceIdentity, 60), T0);
    cache.remember(alice, { scopes: ['chat'], expiresInMinutes: 120 }, grant(aliceIdentity, 120), T0);
    cache.remember(bob, chatVoip, grant(bobIdentity, 60), T0);

    cache.forget(alice);

    expect(cache.size).toBe(1);
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })).toBeUndefined();
    expect(cache.find(bob, chatVoip, { communicationUserId: bobIdentity })).toBeDefined();
  });

  it('never reuses a token asked for before the revocation recorded with the mapping', () => {
    const { cache, clock } = cacheAt();
    cache.remember(alice, chatVoip, grant(aliceIdentity, 60), T0);
    clock.now = T0 + MINUTE;

    const revokedLater = { communicationUserId: aliceIdentity, revokedAt: new Date(T0 + 1).toISOString() };
    expect(cache.find(alice, chatVoip, revokedLater)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('treats a revocation within the clock-skew margin as possibly later, and an older one as done', () => {
    const { cache } = cacheAt();
    const issued = grant(aliceIdentity, 60);
    const withinSkew = new Date(T0 - REVOCATION_CLOCK_SKEW_MS).toISOString();
    const wellBefore = new Date(T0 - REVOCATION_CLOCK_SKEW_MS - 1).toISOString();

    cache.remember(alice, chatVoip, issued, T0);
    expect(
      cache.find(alice, chatVoip, { communicationUserId: aliceIdentity, revokedAt: wellBefore })?.token,
    ).toBe(issued.token);
    expect(
      cache.find(alice, chatVoip, { communicationUserId: aliceIdentity, revokedAt: withinSkew }),
    ).toBeUndefined();
  });

  it('never hands out a token of another identity than the one the mapping names (deleted and re-created)', () => {
    const { cache } = cacheAt();
    cache.remember(alice, chatVoip, grant(aliceIdentity, 60), T0);
    expect(
      cache.find(alice, chatVoip, { communicationUserId: '8:acs:00000000-0000-0000-0000-000000000001_new' }),
    ).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('returns copies, so a caller cannot alter what later callers get', () => {
    const { cache } = cacheAt();
    const issued = grant(aliceIdentity, 60);
    cache.remember(alice, chatVoip, issued, T0);
    const first = cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })!;
    first.token = 'tampered';
    expect(cache.find(alice, chatVoip, { communicationUserId: aliceIdentity })?.token).toBe(issued.token);
  });
});
