import { describe, expect, it } from 'vitest';
import { CachedIdentityStore } from '../../../src/identities/cached-identity-store.js';
import type { IdentityMapping, IdentityStore, UserKey } from '../../../src/identities/identity-store.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';

const alice: UserKey = { issuer: 'https://issuer.example', userId: 'alice' };
const aliceMapping: IdentityMapping = {
  ...alice,
  communicationUserId: '8:acs:00000000-0000-0000-0000-000000000001_a',
  createdAt: '2026-01-01T00:00:00.000Z',
};
const TTL_MS = 60_000;

/** Two service instances sharing one store, each with its own cache, on a clock the test moves by hand. */
function twoInstances() {
  const shared = new MemoryIdentityStore();
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const instance = () =>
    new CachedIdentityStore(shared, { ttlMs: TTL_MS, maxEntries: 100, clock: () => clock.now });
  return { shared, clock, a: instance(), b: instance() };
}

/** A store whose reads wait until the test lets them finish, to interleave a read with a write. */
class HeldReads implements IdentityStore {
  readonly held: (() => void)[] = [];
  constructor(private readonly inner: IdentityStore) {}
  get = async (user: UserKey) => {
    const mapping = await this.inner.get(user);
    await new Promise<void>((resolve) => this.held.push(resolve));
    return mapping;
  };
  createIfAbsent = (mapping: IdentityMapping) => this.inner.createIfAbsent(mapping);
  markRevoked = (user: UserKey, at: Date) => this.inner.markRevoked(user, at);
  delete = (user: UserKey, id: string) => this.inner.delete(user, id);
  list = () => this.inner.list();
  ping = () => this.inner.ping();
}

describe('CachedIdentityStore', () => {
  it('serves a mapping from memory until the TTL passes, so other instances see changes within the TTL', async () => {
    const { a, b, clock } = twoInstances();
    await a.createIfAbsent(aliceMapping);
    expect(await b.get(alice)).toEqual(aliceMapping);

    const revoked = await a.markRevoked(alice, new Date(clock.now));
    clock.now += TTL_MS - 1;
    expect((await b.get(alice))?.revokedAt).toBeUndefined();
    clock.now += 1;
    expect((await b.get(alice))?.revokedAt).toBe(revoked.revokedAt);
  });

  it('sees revokes and deletes made through it at once', async () => {
    const { a, clock } = twoInstances();
    await a.createIfAbsent(aliceMapping);
    expect(await a.get(alice)).toBeDefined();

    const revoked = await a.markRevoked(alice, new Date(clock.now));
    expect((await a.get(alice))?.revokedAt).toBe(revoked.revokedAt);
    expect(await a.delete(alice, aliceMapping.communicationUserId)).toBe(true);
    expect(await a.get(alice)).toBeUndefined();
  });

  it('reads the store again after invalidate, for writes made around the cache', async () => {
    const { shared, a, clock } = twoInstances();
    await a.createIfAbsent(aliceMapping);
    expect(await a.get(alice)).toBeDefined();
    const revoked = await shared.markRevoked(alice, new Date(clock.now));

    expect((await a.get(alice))?.revokedAt).toBeUndefined();
    a.invalidate(alice);
    expect((await a.get(alice))?.revokedAt).toBe(revoked.revokedAt);
  });

  it('does not cache the absence of a mapping: a user created elsewhere is found at once', async () => {
    const { a, b } = twoInstances();
    expect(await b.get(alice)).toBeUndefined();
    await a.createIfAbsent(aliceMapping);
    expect(await b.get(alice)).toEqual(aliceMapping);
  });

  it('caches the mapping that won a creation race, not the one it tried to store', async () => {
    const { a, b } = twoInstances();
    await a.createIfAbsent(aliceMapping);
    const loser = { ...aliceMapping, communicationUserId: '8:acs:00000000-0000-0000-0000-000000000001_z' };
    expect((await b.createIfAbsent(loser)).created).toBe(false);
    expect((await b.get(alice))?.communicationUserId).toBe(aliceMapping.communicationUserId);
  });

  it('does not cache a read that a write on this instance overtook', async () => {
    const shared = new MemoryIdentityStore();
    await shared.createIfAbsent(aliceMapping);
    const held = new HeldReads(shared);
    const store = new CachedIdentityStore(held, { ttlMs: TTL_MS, maxEntries: 100 });

    const staleRead = store.get(alice);
    await new Promise((resolve) => setImmediate(resolve));
    await store.markRevoked(alice, new Date());
    held.held.shift()?.();
    expect((await staleRead)?.revokedAt).toBeUndefined();

    const fresh = store.get(alice);
    // The revoke's result is cached, so this read does not reach the store (nothing is held).
    expect((await fresh)?.revokedAt).toBeDefined();
    expect(held.held).toHaveLength(0);
  });

  it('keeps at most maxEntries mappings', async () => {
    const shared = new MemoryIdentityStore();
    const reads: string[] = [];
    const counting = new HeldReads(shared);
    counting.get = (user: UserKey) => {
      reads.push(user.userId);
      return shared.get(user);
    };
    const store = new CachedIdentityStore(counting, { ttlMs: TTL_MS, maxEntries: 1 });
    const bob = { ...alice, userId: 'bob' };
    await shared.createIfAbsent(aliceMapping);
    await shared.createIfAbsent({ ...aliceMapping, ...bob, communicationUserId: '8:acs:x_b' });

    await store.get(alice);
    await store.get(alice);
    await store.get(bob);
    await store.get(alice);
    expect(reads).toEqual(['alice', 'bob', 'alice']);
  });
});
