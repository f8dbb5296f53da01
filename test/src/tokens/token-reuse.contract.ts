import { describe, expect, it } from 'vitest';
import type { IdentityRecord, UserKey } from '../../../src/identities/identity-store.js';
import { isWorthReusing, MIN_REMAINING_MS, type TokenReuse } from '../../../src/tokens/token-reuse.js';
import type { TokenGrant, TokenOrder } from '../../../src/tokens/tokens.js';

export const MINUTE = 60_000;
export const T0 = Date.parse('2026-01-01T00:00:00Z');
const alice = { issuer: 'https://issuer.example', userId: 'alice' };
const bob = { issuer: 'https://issuer.example', userId: 'bob' };
const aliceIdentity = '8:acs:00000000-0000-0000-0000-000000000001_a';
const bobIdentity = '8:acs:00000000-0000-0000-0000-000000000001_b';
const chatVoip: TokenOrder = { scopes: ['chat', 'voip'], expiresInMinutes: 60 };

function grant(communicationUserId: string, lifetimeMinutes: number, issuedAt = T0): TokenGrant {
  return {
    communicationUserId,
    token: `token-${Math.random()}`,
    expiresOn: new Date(issuedAt + lifetimeMinutes * MINUTE),
  };
}

/**
 * What every TokenReuse adapter must do, judged against rows the test holds (as the row's owner would write them):
 * `createReuse` gives each test a fresh adapter.
 */
export function describeTokenReuseContract(adapter: string, createReuse: () => TokenReuse) {
  describe(`${adapter} honours the TokenReuse contract`, () => {
    /** The rows of one test: what keep answers is written into them, as src/identities/user-row.ts would. */
    function world() {
      const reuse = createReuse();
      const rows = new Map<string, IdentityRecord>();
      const rowOf = (user: UserKey, identity: string, changes: Partial<IdentityRecord> = {}) => {
        const key = `${user.userId}/${identity}`;
        const row = {
          ...user,
          createdAt: new Date(T0).toISOString(),
          communicationUserId: identity,
          ...rows.get(key),
          ...changes,
        };
        rows.set(key, row);
        return row;
      };
      return {
        reuse,
        now: T0,
        async remember(user: UserKey, identity: string, issued: TokenGrant, order = chatVoip) {
          const sealed = await reuse.keep(user, order, issued, this.now, rowOf(user, identity));
          if (sealed) rowOf(user, identity, { reusableTokens: sealed });
        },
        find(user: UserKey, identity: string, order = chatVoip, changes: Partial<IdentityRecord> = {}) {
          return reuse.find(user, order, rowOf(user, identity, changes), this.now);
        },
      };
    }

    it('hands back the same token for the same scopes in any order and the same expiry', async () => {
      const w = world();
      const issued = grant(aliceIdentity, 60);
      await w.remember(alice, aliceIdentity, issued);
      w.now = T0 + 5 * MINUTE;
      expect(await w.find(alice, aliceIdentity, { scopes: ['voip', 'chat'], expiresInMinutes: 60 })).toEqual(
        issued,
      );
      expect(
        (await w.find(alice, aliceIdentity, { scopes: ['chat', 'voip', 'chat'], expiresInMinutes: 60 }))
          ?.token,
      ).toBe(issued.token);
    });

    it('keeps different scopes, expiries and users apart', async () => {
      const w = world();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await w.find(alice, aliceIdentity, { scopes: ['chat'], expiresInMinutes: 60 })).toBeUndefined();
      expect(
        await w.find(alice, aliceIdentity, { scopes: ['chat', 'voip'], expiresInMinutes: 120 }),
      ).toBeUndefined();
      expect(await w.find(bob, bobIdentity)).toBeUndefined();
    });

    it('reuses a token while at least half of its lifetime is left, and not after', async () => {
      const w = world();
      const issued = grant(aliceIdentity, 60);
      await w.remember(alice, aliceIdentity, issued);
      w.now = T0 + 30 * MINUTE;
      expect((await w.find(alice, aliceIdentity))?.token).toBe(issued.token);
      w.now = T0 + 30 * MINUTE + 1;
      expect(await w.find(alice, aliceIdentity)).toBeUndefined();
    });

    it('never hands back a token 10 minutes or less from expiry, even with half its lifetime left', async () => {
      const w = world();
      // ACS may issue a shorter token than asked for; with 16 minutes of life the 10-minute floor binds first.
      const short = grant(aliceIdentity, 16);
      await w.remember(alice, aliceIdentity, short);
      w.now = T0 + 5 * MINUTE;
      expect((await w.find(alice, aliceIdentity))?.token).toBe(short.token);
      w.now = T0 + 6 * MINUTE;
      expect(isWorthReusing(short.expiresOn.getTime(), T0, w.now)).toBe(false);
      expect(await w.find(alice, aliceIdentity)).toBeUndefined();
    });

    it('does not keep a token that is not worth reusing in the first place', async () => {
      const w = world();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, MIN_REMAINING_MS / MINUTE));
      expect(await w.find(alice, aliceIdentity)).toBeUndefined();
    });

    it('never reuses a token issued under an older revocation count, at once (no clock, no pause)', async () => {
      const w = world();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await w.find(alice, aliceIdentity, chatVoip, { revocation: 1 })).toBeUndefined();
    });

    it('neither keeps nor hands back a token while a revoke is under way', async () => {
      const w = world();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await w.find(alice, aliceIdentity, chatVoip, { revoking: true })).toBeUndefined();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await w.find(alice, aliceIdentity)).toBeUndefined();
    });

    it('reuses a token issued after a completed revoke', async () => {
      const w = world();
      const issued = grant(aliceIdentity, 60);
      await w.find(alice, aliceIdentity, chatVoip, { revocation: 3, revoking: undefined });
      await w.remember(alice, aliceIdentity, issued);
      expect((await w.find(alice, aliceIdentity))?.token).toBe(issued.token);
    });

    it('never hands out a token of another identity than the one the record names (erased and re-created)', async () => {
      const w = world();
      await w.remember(alice, aliceIdentity, grant(aliceIdentity, 60));
      expect(await w.find(alice, `${aliceIdentity}-new`)).toBeUndefined();
    });

    it('returns copies, so a caller cannot alter what later callers get', async () => {
      const w = world();
      const issued = grant(aliceIdentity, 60);
      await w.remember(alice, aliceIdentity, issued);
      const first = (await w.find(alice, aliceIdentity)) as { token: string };
      first.token = 'tampered';
      expect((await w.find(alice, aliceIdentity))?.token).toBe(issued.token);
    });
  });
}
