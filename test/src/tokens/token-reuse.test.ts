import { describe, expect, it } from 'vitest';
import { InstanceTokenReuse } from '../../../src/tokens/token-reuse.js';
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
