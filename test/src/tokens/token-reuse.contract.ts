import { describe, expect, it } from 'vitest';
import type { UserKey, Versioned } from '../../../src/identities/identity-store.js';
import { isWorthReusing, MIN_REMAINING_MS, type TokenReuse } from '../../../src/tokens/token-reuse.js';
import { CLOCK_SKEW_MS, type TokenGrant, type TokenOrder } from '../../../src/tokens/tokens.js';

export const MINUTE = 60_000;
export const T0 = Date.parse('2026-01-01T00:00:00Z');
const alice = { issuer: 'https://issuer.example', userId: 'alice' };
const bob = { issuer: 'https://issuer.example', userId: 'bob' };
const aliceIdentity = '8:acs:00000000-0000-0000-0000-000000000001_a';
const bobIdentity = '8:acs:00000000-0000-0000-0000-000000000001_b';
const chatVoip: TokenOrder = { scopes: ['chat', 'voip'], expiresInMinutes: 60 };

/** A reuse adapter on a clock the test moves by hand, and the records it is judged against. */
export interface ReuseWorld {
  reuse: TokenReuse;
  clock: { now: number };
  /**
   * The user's record as a request would read it now, naming `communicationUserId` and revoked at `revokedAt`
   * (whatever else the adapter keeps in it stays as it is).
   */
  current(user: UserKey, communicationUserId: string, revokedAt?: string): Promise<Versioned>;
}

function grant(communicationUserId: string, lifetimeMinutes: number, issuedAt = T0): TokenGrant {
  return {
    communicationUserId,
    token: `token-${Math.random()}`,
    expiresOn: new Date(issuedAt + lifetimeMinutes * MINUTE),
  };
}

/** What every TokenReuse adapter must do; `createWorld` gives each test a fresh adapter at T0. */
export function describeTokenReuseContract(adapter: string, createWorld: () => ReuseWorld) {
  describe(`${adapter} honours the TokenReuse contract`, () => {
    async function remembered(world: ReuseWorld, user: UserKey, identity: string, issued: TokenGrant) {
      await world.reuse.remember(
        user,
        chatVoip,
        issued,
        world.clock.now,
        await world.current(user, identity),
      );
    }
    const find = async (
      world: ReuseWorld,
      user: UserKey,
      identity: string,
      order = chatVoip,
      revokedAt?: string,
    ) => world.reuse.find(user, order, await world.current(user, identity, revokedAt));

    it('hands back the same token for the same scopes in any order and the same expiry', async () => {
      const world = createWorld();
      const issued = grant(aliceIdentity, 60);
      await remembered(world, alice, aliceIdentity, issued);
      world.clock.now = T0 + 5 * MINUTE;
      expect(
        await find(world, alice, aliceIdentity, { scopes: ['voip', 'chat'], expiresInMinutes: 60 }),
      ).toEqual(issued);
      expect(
        (await find(world, alice, aliceIdentity, { scopes: ['chat', 'voip', 'chat'], expiresInMinutes: 60 }))
          ?.token,
      ).toBe(issued.token);
    });

    it('keeps different scopes, expiries and users apart', async () => {
      const world = createWorld();
      await remembered(world, alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(
        await find(world, alice, aliceIdentity, { scopes: ['chat'], expiresInMinutes: 60 }),
      ).toBeUndefined();
      expect(
        await find(world, alice, aliceIdentity, { scopes: ['chat', 'voip'], expiresInMinutes: 120 }),
      ).toBeUndefined();
      expect(await find(world, bob, bobIdentity)).toBeUndefined();
    });

    it('reuses a token while at least half of its lifetime is left, and not after', async () => {
      const world = createWorld();
      const issued = grant(aliceIdentity, 60);
      await remembered(world, alice, aliceIdentity, issued);
      world.clock.now = T0 + 30 * MINUTE;
      expect((await find(world, alice, aliceIdentity))?.token).toBe(issued.token);
      world.clock.now = T0 + 30 * MINUTE + 1;
      expect(await find(world, alice, aliceIdentity)).toBeUndefined();
    });

    it('never hands back a token 10 minutes or less from expiry, even with half its lifetime left', async () => {
      const world = createWorld();
      // ACS may issue a shorter token than asked for; with 16 minutes of life the 10-minute floor binds first.
      const short = grant(aliceIdentity, 16);
      await remembered(world, alice, aliceIdentity, short);
      world.clock.now = T0 + 5 * MINUTE;
      expect((await find(world, alice, aliceIdentity))?.token).toBe(short.token);
      world.clock.now = T0 + 6 * MINUTE;
      expect(isWorthReusing(short.expiresOn.getTime(), T0, world.clock.now)).toBe(false);
      expect(await find(world, alice, aliceIdentity)).toBeUndefined();
    });

    it('does not keep a token that is not worth reusing in the first place', async () => {
      const world = createWorld();
      await remembered(world, alice, aliceIdentity, grant(aliceIdentity, MIN_REMAINING_MS / MINUTE));
      expect(await find(world, alice, aliceIdentity)).toBeUndefined();
    });

    it('never reuses a token asked for before the revocation the record names', async () => {
      const world = createWorld();
      await remembered(world, alice, aliceIdentity, grant(aliceIdentity, 60));
      world.clock.now = T0 + MINUTE;
      expect(
        await find(world, alice, aliceIdentity, chatVoip, new Date(T0 + 1).toISOString()),
      ).toBeUndefined();
    });

    it('treats a revocation within the clock-skew margin as possibly later, and an older one as done', async () => {
      const world = createWorld();
      const issued = grant(aliceIdentity, 60);
      await remembered(world, alice, aliceIdentity, issued);
      const wellBefore = new Date(T0 - CLOCK_SKEW_MS - 1).toISOString();
      const withinSkew = new Date(T0 - CLOCK_SKEW_MS).toISOString();
      expect((await find(world, alice, aliceIdentity, chatVoip, wellBefore))?.token).toBe(issued.token);
      expect(await find(world, alice, aliceIdentity, chatVoip, withinSkew)).toBeUndefined();
    });

    it('never hands out a token of another identity than the one the record names (erased and re-created)', async () => {
      const world = createWorld();
      await remembered(world, alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await find(world, alice, `${aliceIdentity}-new`)).toBeUndefined();
    });

    it('returns copies, so a caller cannot alter what later callers get', async () => {
      const world = createWorld();
      const issued = grant(aliceIdentity, 60);
      await remembered(world, alice, aliceIdentity, issued);
      const first = (await find(world, alice, aliceIdentity)) as { token: string };
      first.token = 'tampered';
      expect((await find(world, alice, aliceIdentity))?.token).toBe(issued.token);
    });
  });
}
