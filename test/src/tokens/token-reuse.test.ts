import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/settings.js';
import { createTokenSealer, type TokenSealer } from '../../../src/tokens/sealing/index.js';
import { InstanceTokenReuse, SharedTokenReuse } from '../../../src/tokens/token-reuse.js';
import type { TokenOrder } from '../../../src/tokens/tokens.js';
import { describeTokenReuseContract, MINUTE, T0 } from './token-reuse.contract.js';

const record = (issuer: string, userId: string, communicationUserId: string) => ({
  issuer,
  userId,
  communicationUserId,
  createdAt: new Date(T0).toISOString(),
});

describeTokenReuseContract('InstanceTokenReuse', () => new InstanceTokenReuse({ maxEntries: 100 }));

describe('InstanceTokenReuse', () => {
  it('holds at most maxEntries tokens, dropping the least recently used', async () => {
    const reuse = new InstanceTokenReuse({ maxEntries: 2 });
    const order: TokenOrder = { scopes: ['chat'], expiresInMinutes: 60 };
    const users = ['alice', 'bob', 'carol'].map((userId) => ({ issuer: 'https://issuer.example', userId }));
    const current = (userId: string) => record('https://issuer.example', userId, `8:acs:x_${userId}`);
    const grant = (userId: string) => ({
      communicationUserId: `8:acs:x_${userId}`,
      token: `token-${userId}`,
      expiresOn: new Date(T0 + 60 * MINUTE),
    });
    await reuse.keep(users[0]!, order, grant('alice'), T0, current('alice'));
    await reuse.keep(users[1]!, order, grant('bob'), T0, current('bob'));
    // Alice's token is used, so Bob's becomes the least recently used one.
    expect(await reuse.find(users[0]!, order, current('alice'), T0)).toBeDefined();
    await reuse.keep(users[2]!, order, grant('carol'), T0, current('carol'));
    expect(reuse.size).toBe(2);
    expect(await reuse.find(users[1]!, order, current('bob'), T0)).toBeUndefined();
    expect(await reuse.find(users[0]!, order, current('alice'), T0)).toBeDefined();
    expect(await reuse.find(users[2]!, order, current('carol'), T0)).toBeDefined();
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

describeTokenReuseContract(
  'SharedTokenReuse',
  () => new SharedTokenReuse(developmentSealer(), { maxEntries: 100 }),
);

describe('SharedTokenReuse', () => {
  const order: TokenOrder = { scopes: ['chat'], expiresInMinutes: 60 };
  const alice = { issuer: 'https://issuer.example', userId: 'alice' };
  const identity = '8:acs:x_alice';
  const grant = {
    communicationUserId: identity,
    token: 'token-alice',
    expiresOn: new Date(T0 + 60 * MINUTE),
  };
  const shared = () => new SharedTokenReuse(developmentSealer(), { maxEntries: 10 });

  it('hands back on one instance what another kept, sealed in the row', async () => {
    const row = record(alice.issuer, alice.userId, identity);
    const sealed = await shared().keep(alice, order, grant, T0, row);
    expect(sealed).toBeDefined();
    expect(sealed).not.toContain('token-alice');
    expect(await shared().find(alice, order, { ...row, reusableTokens: sealed! }, T0 + MINUTE)).toEqual(
      grant,
    );
  });

  it('does not open a sealed value copied into another user’s record', async () => {
    const row = record(alice.issuer, alice.userId, identity);
    const sealed = await shared().keep(alice, order, grant, T0, row);
    const mallory = { issuer: alice.issuer, userId: 'mallory' };
    const copied = { ...record(mallory.issuer, mallory.userId, identity), reusableTokens: sealed! };
    expect(await shared().find(mallory, order, copied, T0 + MINUTE)).toBeUndefined();
  });
});
