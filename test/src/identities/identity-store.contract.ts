import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IdentityRecord, IdentityStore, UserKey } from '../../../src/identities/identity-store.js';
import { revokingOf, tombstoneOf, UserRows } from '../../../src/identities/user-row.js';
import { UserLimitExceededError } from '../../../src/shared/errors.js';

/**
 * The behaviour every IdentityStore adapter must share: one record per user, conditional writes by version. The
 * provisioning and lifecycle logic built on it (src/identities/) holds across instances only if these hold.
 * `createStore` runs once per suite; each test works under its own issuer, so tests share one store (and table).
 */
export function describeIdentityStoreContract(adapter: string, createStore: () => Promise<IdentityStore>) {
  describe(`${adapter} honours the IdentityStore contract`, () => {
    let store: IdentityStore;
    beforeAll(async () => {
      store = await createStore();
    });

    it('answers undefined for a user without a record', async () => {
      expect(await store.read(newUser())).toBeUndefined();
    });

    it('inserts a new record and reads it back unchanged, with the version the insert gave', async () => {
      const record = newMapping(newUser());
      const inserted = await store.insert(record);
      expect(inserted?.record).toEqual(record);
      expect(await store.read(record)).toEqual(inserted);
    });

    it('refuses a second insert for the same user and keeps the first record', async () => {
      const user = newUser();
      const first = await store.insert(newMapping(user));
      expect(await store.insert(newMapping(user))).toBeUndefined();
      expect(await store.read(user)).toEqual(first);
    });

    it('replaces a record at its current version, and the version changes', async () => {
      const claim = newClaim(newUser());
      const inserted = await store.insert(claim);
      const { claimId: _id, ...rest } = claim;
      const mapping = { ...rest, communicationUserId: newCommunicationUserId() };
      const replaced = await store.replace(mapping, inserted!.version);
      expect(replaced?.record).toEqual(mapping);
      expect(replaced?.version).not.toBe(inserted!.version);
      // Fields the new record leaves out are gone, not kept from the old one.
      expect(await store.read(claim)).toEqual(replaced);
    });

    it('refuses a replace at a stale version, and a replace of a record that is gone', async () => {
      const user = newUser();
      const inserted = await store.insert(newClaim(user));
      const renewed = await store.replace({ ...inserted!.record }, inserted!.version);
      expect(await store.replace(newMapping(user), inserted!.version)).toBeUndefined();
      expect(await store.read(user)).toEqual(renewed);
      expect(await store.remove(user, renewed!.version)).toBe(true);
      expect(await store.replace(newMapping(user), renewed!.version)).toBeUndefined();
      expect(await store.read(user)).toBeUndefined();
    });

    it('removes a record only at its current version', async () => {
      const user = newUser();
      const inserted = await store.insert(newMapping(user));
      const revoked = await store.replace({ ...inserted!.record, revocation: 1 }, inserted!.version);
      expect(await store.remove(user, inserted!.version)).toBe(false);
      expect(await store.read(user)).toEqual(revoked);
      expect(await store.remove(user, revoked!.version)).toBe(true);
      expect(await store.read(user)).toBeUndefined();
      expect(await store.remove(user, revoked!.version)).toBe(false);
    });

    it('keeps users apart by issuer and by user id', async () => {
      const issuer = newIssuer();
      const users = [
        { issuer, userId: 'alice' },
        { issuer, userId: 'bob' },
        { issuer: `${issuer}/other`, userId: 'alice' },
      ];
      const records = users.map(newMapping);
      for (const record of records) expect(await store.insert(record)).toBeDefined();
      for (const [i, user] of users.entries()) expect((await store.read(user))?.record).toEqual(records[i]);
    });

    it('refuses a malformed record', async () => {
      const record = { ...newMapping(newUser()), createdAt: 'yesterday' };
      await expect(store.insert(record)).rejects.toThrow();
      expect(await store.read(record)).toBeUndefined();
    });

    it('hands out copies, not its own state', async () => {
      const record = newMapping(newUser());
      const inserted = await store.insert(record);
      (inserted!.record as { communicationUserId: string }).communicationUserId = 'changed';
      const read = await store.read(record);
      (read!.record as { communicationUserId: string }).communicationUserId = 'changed';
      expect((await store.read(record))?.record).toEqual(record);
    });

    it('lets exactly one of 50 concurrent inserts for one user win', async () => {
      const user = newUser();
      const candidates = Array.from({ length: 50 }, () => newClaim(user));
      const results = await Promise.all(candidates.map((record) => store.insert(record)));
      const winners = results.filter((result) => result !== undefined);
      expect(winners).toHaveLength(1);
      expect(candidates).toContainEqual(winners[0]!.record);
      expect(await store.read(user)).toEqual(winners[0]);
    });

    it('lets exactly one of 20 concurrent replaces at one version win', async () => {
      const user = newUser();
      const inserted = await store.insert(newClaim(user));
      const candidates = Array.from({ length: 20 }, () => newMapping(user));
      const results = await Promise.all(candidates.map((record) => store.replace(record, inserted!.version)));
      const winners = results.filter((result) => result !== undefined);
      expect(winners).toHaveLength(1);
      expect(await store.read(user)).toEqual(winners[0]);
    });

    describe('UserRows (the row owner) on the store', () => {
      const rowsOf = (perMinute: number) => new UserRows(store, { perMinute });

      it("tells the store's time, close to the real one whatever this process's clock says", async () => {
        await store.read(newUser()); // learns the time from an answer
        expect(Math.abs(store.now() - Date.now())).toBeLessThan(2_000);
      });

      it('carries the limit in the row, spent by weight, and refuses past it with no write', async () => {
        const rows = rowsOf(3);
        const user = newUser();
        const first = await rows.write(user, undefined, newMapping(user), { operation: 'create' });
        expect(first?.record.limitTokens).toBeCloseTo(2, 1);
        expect((await store.read(user))?.record.limitAt).toBeGreaterThan(Date.parse('2020-01-01'));
        const second = await rows.write(user, first, first!.record, { operation: 'delete' });
        await expect(
          rows.write(user, second, second!.record, { operation: 'revoke' }),
        ).rejects.toBeInstanceOf(UserLimitExceededError);
        expect(await store.read(user)).toEqual(second);
      });

      it('a revoke mark drops kept tokens and bumps the count; a tombstone bumps the generation', async () => {
        const rows = rowsOf(100);
        const user = newUser();
        const kept = await rows.write(user, undefined, { ...newMapping(user), reusableTokens: 'sealed' });
        const marked = await rows.write(user, kept, revokingOf(kept!.record));
        expect(marked?.record).toMatchObject({ revocation: 1, revoking: true });
        expect(marked?.record.reusableTokens).toBeUndefined();
        const erased = await rows.write(user, marked, tombstoneOf(user, marked!.record));
        expect((await store.read(user))?.record).toMatchObject({
          generation: 1,
          erased: true,
          revocation: 1,
        });
        expect(erased?.record.communicationUserId).toBeUndefined();
      });

      it('lets exactly one of 20 concurrent writes at one version win, and the rest re-read', async () => {
        const rows = rowsOf(100);
        const user = newUser();
        const inserted = await rows.write(user, undefined, newClaim(user));
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            rows.write(user, inserted, newMapping(user), { operation: 'issue' }),
          ),
        );
        expect(results.filter((result) => result !== undefined)).toHaveLength(1);
      });
    });

    it('lists every record', async () => {
      const issuer = newIssuer();
      const records = [newMapping({ issuer, userId: 'u1' }), newClaim({ issuer, userId: 'u2' })];
      for (const record of records) await store.insert(record);
      expect(sortByUser(await recordsOf(store, issuer))).toEqual(records);
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
      const records = issuers.flatMap((i) => userIds.map((userId) => newMapping({ issuer: i, userId })));
      for (const record of records) expect(await store.insert(record)).toBeDefined();
      for (const record of records) expect((await store.read(record))?.record).toEqual(record);
      const listed = (await Promise.all(issuers.map((i) => recordsOf(store, i)))).flat();
      expect(sortByUser(listed)).toEqual(sortByUser(records));
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

function newMapping(user: UserKey) {
  return {
    issuer: user.issuer,
    userId: user.userId,
    communicationUserId: newCommunicationUserId(),
    createdAt: new Date().toISOString(),
  };
}

function newClaim(user: UserKey): IdentityRecord {
  return {
    issuer: user.issuer,
    userId: user.userId,
    createdAt: new Date().toISOString(),
    claimId: randomUUID(),
  };
}

async function recordsOf(store: IdentityStore, issuer: string): Promise<IdentityRecord[]> {
  const found: IdentityRecord[] = [];
  for await (const record of store.list()) if (record.issuer === issuer) found.push(record);
  return found;
}

function sortByUser(records: IdentityRecord[]): IdentityRecord[] {
  const key = (m: IdentityRecord) => JSON.stringify([m.issuer, m.userId]);
  return [...records].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
