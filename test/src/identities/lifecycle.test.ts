import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { AcsGateway, createIdentityClient } from '../../../src/acs/client.js';
import type { IdentityRecord, UserKey, Versioned } from '../../../src/identities/identity-store.js';
import {
  deleteUserIdentity,
  type LifecycleDependencies,
  revokeUserTokens,
} from '../../../src/identities/lifecycle.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';
import { issueTokenForUser } from '../../../src/identities/provisioning.js';
import { UserRows } from '../../../src/identities/user-row.js';
import { AcsUnavailableError, IdentityStoreUnavailableError } from '../../../src/shared/errors.js';

/** The memory store with one planned outage of a write, to see what a failure between two steps leaves behind. */
class FlakyStore extends MemoryIdentityStore {
  failNext: 'remove' | 'replace' | undefined;

  override async remove(user: UserKey, version: string): Promise<boolean> {
    this.#maybeFail('remove');
    return super.remove(user, version);
  }

  override async replace(record: IdentityRecord, version: string): Promise<Versioned | undefined> {
    this.#maybeFail('replace');
    return super.replace(record, version);
  }

  #maybeFail(operation: 'remove' | 'replace') {
    if (this.failNext !== operation) return;
    this.failNext = undefined;
    throw new IdentityStoreUnavailableError('planned outage');
  }
}

const order = { scopes: ['chat'] as const, expiresInMinutes: 60 };

describe('revokeUserTokens and deleteUserIdentity against the emulator', () => {
  let emulator: RunningEmulator;
  let gateway: AcsGateway;
  let store: FlakyStore;

  beforeAll(async () => {
    emulator = await startEmulator();
    gateway = new AcsGateway(
      createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
      5_000,
    );
    store = new FlakyStore();
  });
  afterAll(() => emulator.close());

  const rows = () => new UserRows(store, { perMinute: 1_000 });
  const dependencies = (): LifecycleDependencies => ({ rows: rows(), acs: gateway.session() });
  const provision = (user: UserKey) =>
    issueTokenForUser({ rows: rows(), acs: gateway.session(), log: () => {}, reuse: undefined }, user, order);
  const recordOf = async (user: UserKey) => (await store.read(user))?.record;
  const identities = async () =>
    (
      (await (await fetch(new URL('emulator/identities', emulator.endpoint))).json()) as {
        identities: string[];
      }
    ).identities;
  const isActive = async (token: string) =>
    (
      (await (
        await fetch(new URL('emulator/introspect', emulator.endpoint), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ token }),
        })
      ).json()) as { active: boolean }
    ).active;

  it('marks the row before ACS revokes, and clears the mark after', async () => {
    const user = { issuer: 'https://issuer.test', userId: 'revoked-user' };
    const { token, communicationUserId } = await provision(user);
    await expect(revokeUserTokens(dependencies(), user)).resolves.toEqual({
      outcome: 'revoked',
      communicationUserId,
    });
    expect(await isActive(token)).toBe(false);
    expect(await recordOf(user)).toMatchObject({ revocation: 1 });
    expect((await recordOf(user))?.revoking).toBeUndefined();
  });

  it('makes no ACS call when the row cannot be marked, and a retry completes the revoke', async () => {
    const user = { issuer: 'https://issuer.test', userId: 'revoke-store-down' };
    const { token } = await provision(user);
    store.failNext = 'replace';
    const session = gateway.session();
    await expect(revokeUserTokens({ rows: rows(), acs: session }, user)).rejects.toBeInstanceOf(
      IdentityStoreUnavailableError,
    );
    expect(session.calls).toBe(0);
    expect(await isActive(token)).toBe(true);
    await expect(revokeUserTokens(dependencies(), user)).resolves.toMatchObject({ outcome: 'revoked' });
    expect(await recordOf(user)).toMatchObject({ revocation: 1 });
    expect((await recordOf(user))?.revoking).toBeUndefined();
  });

  it('leaves the row marked (no reuse) when ACS revoked but the mark cannot be cleared', async () => {
    const user = { issuer: 'https://issuer.test', userId: 'revoke-half-way' };
    const { token } = await provision(user);
    const marking = store.replace.bind(store);
    let writes = 0;
    store.replace = async (record, version) => {
      if (++writes === 2) throw new IdentityStoreUnavailableError('planned outage');
      return marking(record, version);
    };
    try {
      await expect(revokeUserTokens(dependencies(), user)).rejects.toBeInstanceOf(
        IdentityStoreUnavailableError,
      );
    } finally {
      store.replace = marking;
    }
    expect(await isActive(token)).toBe(false);
    expect(await recordOf(user)).toMatchObject({ revocation: 1, revoking: true });
    await expect(revokeUserTokens(dependencies(), user)).resolves.toMatchObject({ outcome: 'revoked' });
    expect(await recordOf(user)).toMatchObject({ revocation: 2 });
    expect((await recordOf(user))?.revoking).toBeUndefined();
  });

  it('never removes the mapping when ACS fails to delete the identity', async () => {
    const user = { issuer: 'https://issuer.test', userId: 'acs-down' };
    const { communicationUserId } = await provision(user);
    emulator.setFaults({ failRate: 1, failStatus: 503 });
    try {
      await expect(deleteUserIdentity(dependencies(), user)).rejects.toBeInstanceOf(AcsUnavailableError);
    } finally {
      emulator.setFaults({ failRate: 0 });
    }
    expect((await recordOf(user))?.communicationUserId).toBe(communicationUserId);
    expect(await identities()).toContain(communicationUserId);
  });

  it('finishes a delete whose tombstone could not be written on the next attempt', async () => {
    const user = { issuer: 'https://issuer.test', userId: 'store-down' };
    const { communicationUserId } = await provision(user);
    store.failNext = 'replace';
    await expect(deleteUserIdentity(dependencies(), user)).rejects.toBeInstanceOf(
      IdentityStoreUnavailableError,
    );
    expect(await identities()).not.toContain(communicationUserId);
    expect(await recordOf(user)).toBeDefined();

    await expect(deleteUserIdentity(dependencies(), user)).resolves.toEqual({
      outcome: 'identity_already_gone',
      communicationUserId,
    });
    expect(await recordOf(user)).toMatchObject({ erased: true, generation: 1 });
    expect((await recordOf(user))?.communicationUserId).toBeUndefined();
    await expect(deleteUserIdentity(dependencies(), user)).resolves.toEqual({ outcome: 'absent' });
  });

  it('answers not_found for a revoke of a user without identity, with no ACS call', async () => {
    const session = gateway.session();
    const result = await revokeUserTokens(
      { rows: rows(), acs: session },
      { issuer: 'https://issuer.test', userId: 'unknown' },
    );
    expect(result).toEqual({ outcome: 'not_found' });
    expect(session.calls).toBe(0);
  });
});
