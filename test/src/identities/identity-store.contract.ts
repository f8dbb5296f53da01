import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type IdentityMapping,
  IdentityNotFoundError,
  type IdentityStore,
  type UserKey,
} from '../../../src/identities/identity-store.js';

/**
 * The behaviour every IdentityStore adapter must share. `createStore` runs once per suite; each test works under
 * its own issuer, so tests stay independent while sharing one store (and one table).
 */
export function describeIdentityStoreContract(adapter: string, createStore: () => Promise<IdentityStore>) {
  describe(`${adapter} honours the IdentityStore contract`, () => {
    let store: IdentityStore;
    beforeAll(async () => {
      store = await createStore();
    });

    it('answers undefined for a user without a mapping', async () => {
      expect(await store.get(newUser())).toBeUndefined();
    });

    it('stores a new mapping and reads it back unchanged', async () => {
      const mapping = newMapping(newUser());
      expect(await store.createIfAbsent(mapping)).toEqual({ mapping, created: true });
      expect(await store.get(mapping)).toEqual(mapping);
    });

    it('keeps the first mapping when another writer comes second', async () => {
      const user = newUser();
      const first = newMapping(user);
      await store.createIfAbsent(first);
      expect(await store.createIfAbsent(newMapping(user))).toEqual({ mapping: first, created: false });
      expect(await store.get(user)).toEqual(first);
    });

    it('reports created again when the same mapping is written twice (a retried write)', async () => {
      const mapping = newMapping(newUser());
      await store.createIfAbsent(mapping);
      expect(await store.createIfAbsent(mapping)).toEqual({ mapping, created: true });
    });

    it('keeps users apart by issuer and by user id', async () => {
      const issuer = newIssuer();
      const users = [
        { issuer, userId: 'alice' },
        { issuer, userId: 'bob' },
        { issuer: `${issuer}/other`, userId: 'alice' },
      ];
      const mappings = users.map(newMapping);
      for (const mapping of mappings) expect((await store.createIfAbsent(mapping)).created).toBe(true);
      for (const [i, user] of users.entries()) expect(await store.get(user)).toEqual(mappings[i]);
    });

    it('refuses a malformed mapping', async () => {
      const mapping = { ...newMapping(newUser()), createdAt: 'yesterday' };
      await expect(store.createIfAbsent(mapping)).rejects.toThrow();
      expect(await store.get(mapping)).toBeUndefined();
    });

    it('hands out copies, not its own state', async () => {
      const mapping = newMapping(newUser());
      const { mapping: returned } = await store.createIfAbsent(mapping);
      returned.communicationUserId = 'changed';
      const read = await store.get(mapping);
      read!.communicationUserId = 'changed';
      expect(await store.get(mapping)).toEqual(mapping);
    });

    describe('markRevoked', () => {
      it('records the revocation instant and keeps the rest of the mapping', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        const at = new Date('2030-01-02T03:04:05.678Z');
        const expected = { ...mapping, revokedAt: at.toISOString() };
        expect(await store.markRevoked(mapping, at)).toEqual(expected);
        expect(await store.get(mapping)).toEqual(expected);
      });

      it('only moves the revocation instant forward', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        const later = new Date('2030-06-01T00:00:00.000Z');
        await store.markRevoked(mapping, later);
        expect((await store.markRevoked(mapping, new Date('2030-01-01T00:00:00.000Z'))).revokedAt).toBe(
          later.toISOString(),
        );
        const latest = new Date('2031-01-01T00:00:00.000Z');
        expect((await store.markRevoked(mapping, latest)).revokedAt).toBe(latest.toISOString());
        expect((await store.get(mapping))?.revokedAt).toBe(latest.toISOString());
      });

      it('throws IdentityNotFoundError for a user without a mapping', async () => {
        await expect(store.markRevoked(newUser(), new Date())).rejects.toBeInstanceOf(IdentityNotFoundError);
      });

      it('ends with the latest instant when many revocations race', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        const instants = Array.from({ length: 20 }, (_, i) => new Date(Date.UTC(2030, 0, 1, 0, 0, i)));
        await Promise.all(instants.map((at) => store.markRevoked(mapping, at)));
        expect(await store.get(mapping)).toEqual({ ...mapping, revokedAt: instants.at(-1)!.toISOString() });
      });
    });

    describe('delete', () => {
      it('removes the mapping when it still points at the given identity', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        expect(await store.delete(mapping, mapping.communicationUserId)).toBe(true);
        expect(await store.get(mapping)).toBeUndefined();
      });

      it('leaves a mapping that points at another identity', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        expect(await store.delete(mapping, newCommunicationUserId())).toBe(false);
        expect(await store.get(mapping)).toEqual(mapping);
      });

      it('is harmless when there is no mapping', async () => {
        expect(await store.delete(newUser(), newCommunicationUserId())).toBe(false);
      });

      it('does not let a stale delete remove a newer mapping', async () => {
        const user = newUser();
        const old = newMapping(user);
        await store.createIfAbsent(old);
        expect(await store.delete(user, old.communicationUserId)).toBe(true);
        const newer = newMapping(user);
        expect(await store.createIfAbsent(newer)).toEqual({ mapping: newer, created: true });
        expect(await store.delete(user, old.communicationUserId)).toBe(false);
        expect(await store.get(user)).toEqual(newer);
      });

      it('removes a revoked mapping too', async () => {
        const mapping = newMapping(newUser());
        await store.createIfAbsent(mapping);
        await store.markRevoked(mapping, new Date());
        expect(await store.delete(mapping, mapping.communicationUserId)).toBe(true);
        expect(await store.get(mapping)).toBeUndefined();
      });
    });

    it('lists every mapping', async () => {
      const issuer = newIssuer();
      const mappings = ['u1', 'u2', 'u3'].map((userId) => newMapping({ issuer, userId }));
      for (const mapping of mappings) await store.createIfAbsent(mapping);
      const revoked = await store.markRevoked(mappings[1]!, new Date('2030-01-01T00:00:00.000Z'));
      const listed = await mappingsOf(store, issuer);
      expect(sortByUser(listed)).toEqual([mappings[0], revoked, mappings[2]]);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('stores any issuer and user id, however hostile to keys', async () => {
      const issuer = newIssuer();
      const long = 'x'.repeat(2048);
      const issuers = [
        `${issuer}/tenant/v2.0?query=1#fragment`,
        `${issuer}\\back\\slash`,
        `${issuer}/${long}`,
        `${issuer}/ユニコード/😀`,
      ];
      const userIds = [
        'a/b\\c#d?e%f',
        'ユーザー😀',
        'ctl\u0000\u0001\t\n\r\u001f\u007f\u0085',
        long,
        `${long}a`,
        `${long}b`,
        ' ',
        '\'quote"',
        '..',
      ];
      const mappings = issuers.flatMap((i) => userIds.map((userId) => newMapping({ issuer: i, userId })));
      for (const mapping of mappings) expect((await store.createIfAbsent(mapping)).created).toBe(true);
      for (const mapping of mappings) expect(await store.get(mapping)).toEqual(mapping);
      const listed = (await Promise.all(issuers.map((i) => mappingsOf(store, i)))).flat();
      expect(sortByUser(listed)).toEqual(sortByUser(mappings));
    });

    it('lets exactly one of 50 concurrent first writes for one user win', async () => {
      const user = newUser();
      const candidates = Array.from({ length: 50 }, () => newMapping(user));
      const results = await Promise.all(candidates.map((mapping) => store.createIfAbsent(mapping)));
      const winners = results.filter((result) => result.created);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.mapping;
      expect(candidates).toContainEqual(winner);
      for (const result of results) expect(result.mapping).toEqual(winner);
      expect(await store.get(user)).toEqual(winner);
    });
  });
}

function newIssuer(): string {
  return `https://issuer.test/${randomUUID()}`;
}

function newUser(): UserKey {
  return { issuer: newIssuer(), userId: randomUUID() };
}

function newCommunicationUserId(): string {
  return `8:acs:${randomUUID()}_${randomUUID()}`;
}

function newMapping(user: UserKey): IdentityMapping {
  return {
    issuer: user.issuer,
    userId: user.userId,
    communicationUserId: newCommunicationUserId(),
    createdAt: new Date().toISOString(),
  };
}

async function mappingsOf(store: IdentityStore, issuer: string): Promise<IdentityMapping[]> {
  const found: IdentityMapping[] = [];
  for await (const mapping of store.list()) if (mapping.issuer === issuer) found.push(mapping);
  return found;
}

function sortByUser(mappings: IdentityMapping[]): IdentityMapping[] {
  const key = (m: IdentityMapping) => JSON.stringify([m.issuer, m.userId]);
  return [...mappings].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
