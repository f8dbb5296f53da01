import { describe, expect, it } from 'vitest';
import type { UserKey, Versioned } from '../../../src/identities/identity-store.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';
import { loadSettings } from '../../../src/settings.js';
import { createTokenSealer, type TokenSealer } from '../../../src/tokens/sealing/index.js';
import { InstanceTokenReuse, SharedTokenReuse } from '../../../src/tokens/token-reuse.js';
import type { TokenOrder } from '../../../src/tokens/tokens.js';
import { describeTokenReuseContract, MINUTE, T0 } from './token-reuse.contract.js';

const record = (issuer: string, userId: string, communicationUserId: string, revokedAt?: string) => ({
  record: {
    issuer,
    userId,
    communicationUserId,
    createdAt: new Date(T0).toISOString(),
    ...(revokedAt ? { revokedAt } : {}),
  },
  version: '1',
});

describeTokenReuseContract('InstanceTokenReuse', () => {
  const clock = { now: T0 };
  return {
    reuse: new InstanceTokenReuse({ maxEntries: 100, clock: () => clock.now }),
    clock,
    current: async (user, communicationUserId, revokedAt) =>
      record(user.issuer, user.userId, communicationUserId, revokedAt),
  };
});

describe('InstanceTokenReuse', () => {
  it('holds at most maxEntries tokens, dropping the least recently used', async () => {
    const reuse = new InstanceTokenReuse({ maxEntries: 2, clock: () => T0 });
    const order: TokenOrder = { scopes: ['chat'], expiresInMinutes: 60 };
    const users = ['alice', 'bob', 'carol'].map((userId) => ({ issuer: 'https://issuer.example', userId }));
    const current = (userId: string) => record('https://issuer.example', userId, `8:acs:x_${userId}`);
    const grant = (userId: string) => ({
      communicationUserId: `8:acs:x_${userId}`,
      token: `token-${userId}`,
      expiresOn: new Date(T0 + 60 * MINUTE),
    });
    await reuse.remember(users[0]!, order, grant('alice'), T0);
    await reuse.remember(users[1]!, order, grant('bob'), T0);
    // Alice's token is used, so Bob's becomes the least recently used one.
    expect(await reuse.find(users[0]!, order, current('alice'))).toBeDefined();
    await reuse.remember(users[2]!, order, grant('carol'), T0);
    expect(reuse.size).toBe(2);
    expect(await reuse.find(users[1]!, order, current('bob'))).toBeUndefined();
    expect(await reuse.find(users[0]!, order, current('alice'))).toBeDefined();
    expect(await reuse.find(users[2]!, order, current('carol'))).toBeDefined();
  });
});

/** The real sealer the service uses with a local store: the public development key. */
function developmentSealer(): TokenSealer {
  const sealer = createTokenSealer(
    { tokens: loadSettings(SETTINGS).tokens, store: { kind: 'memory' } },
    () => {},
  );
  if (!sealer) throw new Error('a memory store must get the development sealer');
  return sealer;
}

const SETTINGS = {
  COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=https://acs.example/;accesskey=a2V5',
  AUTH_MODE: 'anonymous',
};

/** The user's record in `store`, naming `communicationUserId` (and revoked at `revokedAt`), other fields kept. */
async function currentIn(
  store: MemoryIdentityStore,
  user: UserKey,
  communicationUserId: string,
  revokedAt?: string,
): Promise<Versioned> {
  const existing = await store.read(user);
  const record = {
    ...(existing?.record ?? { ...user, createdAt: new Date(T0).toISOString() }),
    communicationUserId,
    ...(revokedAt ? { revokedAt } : {}),
  };
  const same = existing && JSON.stringify(existing.record) === JSON.stringify(record);
  if (same) return existing;
  return (existing ? await store.replace(record, existing.version) : await store.insert(record))!;
}

describeTokenReuseContract('SharedTokenReuse', () => {
  const clock = { now: T0 };
  const store = new MemoryIdentityStore();
  return {
    reuse: new SharedTokenReuse(store, developmentSealer(), { maxEntries: 100, clock: () => clock.now }),
    clock,
    current: (user, communicationUserId, revokedAt) => currentIn(store, user, communicationUserId, revokedAt),
  };
});

describe('SharedTokenReuse', () => {
  const order: TokenOrder = { scopes: ['chat'], expiresInMinutes: 60 };
  const alice = { issuer: 'https://issuer.example', userId: 'alice' };
  const identity = '8:acs:x_alice';
  const grant = {
    communicationUserId: identity,
    token: 'token-alice',
    expiresOn: new Date(T0 + 60 * MINUTE),
  };
  const sharedOver = (store: MemoryIdentityStore) =>
    new SharedTokenReuse(store, developmentSealer(), { maxEntries: 10, clock: () => T0 + MINUTE });

  it('hands back on one instance what another remembered, and keeps it in the record sealed', async () => {
    const store = new MemoryIdentityStore();
    const [first, second] = [sharedOver(store), sharedOver(store)];
    await first.remember(alice, order, grant, T0, await currentIn(store, alice, identity));
    const current = (await store.read(alice))!;
    expect(current.record.reusableTokens).toBeDefined();
    expect(current.record.reusableTokens).not.toContain('token-alice');
    expect(await second.find(alice, order, current)).toEqual(grant);
  });

  it('does not open a sealed value copied into another user’s record', async () => {
    const store = new MemoryIdentityStore();
    const reuse = sharedOver(store);
    await reuse.remember(alice, order, grant, T0, await currentIn(store, alice, identity));
    const mallory = { issuer: alice.issuer, userId: 'mallory' };
    const copied = await store.insert({
      ...mallory,
      createdAt: new Date(T0).toISOString(),
      communicationUserId: identity,
      reusableTokens: (await store.read(alice))!.record.reusableTokens!,
    });
    expect(await reuse.find(mallory, order, copied!)).toBeUndefined();
  });

  it('loses a remember that races another write of the record, rather than overwrite it', async () => {
    const store = new MemoryIdentityStore();
    const reuse = sharedOver(store);
    const stale = await currentIn(store, alice, identity);
    const revoked = await currentIn(store, alice, identity, new Date(T0 + 30_000).toISOString());
    await reuse.remember(alice, order, grant, T0, stale);
    expect((await store.read(alice))?.record).toEqual(revoked.record);
  });
});
