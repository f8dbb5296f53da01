import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { AcsGateway, createIdentityClient } from '../../../src/acs/client.js';
import { createIdentityStore } from '../../../src/identities/create-store.js';
import type { IdentityStore, UserKey } from '../../../src/identities/identity-store.js';
import { deleteUserIdentity } from '../../../src/identities/lifecycle.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';
import {
  type ClaimTiming,
  issueTokenForAnonymous,
  issueTokenForUser,
  type ProvisioningDependencies,
} from '../../../src/identities/provisioning.js';
import { UserRows } from '../../../src/identities/user-row.js';
import type { Logger } from '../../../src/log.js';
import {
  AcsUnavailableError,
  ErasedMeanwhileError,
  IdentityPendingError,
  IdentityStoreUnavailableError,
} from '../../../src/shared/errors.js';
import { startStorageRelay } from '../../support/storage-relay.js';

type StorageRelay = Awaited<ReturnType<typeof startStorageRelay>>;

const logs: Parameters<Logger>[] = [];
const log: Logger = (...args) => logs.push(args);

let emulator: RunningEmulator;
let gateway: AcsGateway;
let relay: StorageRelay;
let relayedStore: IdentityStore;

async function activeIdentities(): Promise<string[]> {
  const response = await fetch(new URL('emulator/identities', emulator.endpoint));
  return ((await response.json()) as { identities: string[] }).identities;
}

async function acsOperations(): Promise<{ createIdentity: number; deleteIdentity: number }> {
  const response = await fetch(new URL('emulator/stats', emulator.endpoint));
  return ((await response.json()) as { operations: { createIdentity: number; deleteIdentity: number } })
    .operations;
}

/** Short leases, so a test can watch a holder die and be taken over within a second. */
const FAST: ClaimTiming = {
  leaseMs: 400,
  renewEveryMs: 100,
  firstWaitStepMs: 10,
  maxWaitStepMs: 50,
  inFlightMs: 3_000,
};
/**
 * For "at once": a request that waited would wait a whole lease, so a lease far longer than ACS takes on a busy
 * machine tells waiting from not waiting by the clock, where FAST's 400 ms is within the noise of the load.
 */
const LONG_LEASE: ClaimTiming = { ...FAST, leaseMs: 20_000 };

const deps = (
  store: IdentityStore,
  extra: Partial<ProvisioningDependencies> = {},
): ProvisioningDependencies => ({
  rows: new UserRows(store, { perMinute: 1_000_000 }),
  acs: gateway.session(),
  log,
  reuse: undefined,
  timing: FAST,
  ...extra,
});

let userCount = 0;
const newUser = (): UserKey => ({
  issuer: 'https://issuer.example',
  userId: `user-${Date.now()}-${userCount++}`,
});

/** A claim as a request that then died would have left it: nobody renewing it. */
function deadHoldersClaim(user: UserKey) {
  return { ...user, createdAt: new Date().toISOString(), claimId: 'a-request-that-died' };
}

beforeAll(async () => {
  emulator = await startEmulator();
  gateway = new AcsGateway(
    createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
    5_000,
  );
  const azurite = inject('azuriteConnectionString');
  const tableEndpoint = new URL(/TableEndpoint=([^;]+)/.exec(azurite)![1]!);
  relay = await startStorageRelay(tableEndpoint);
  relayedStore = createIdentityStore({
    kind: 'table',
    tableName: `Prov${Date.now()}`,
    connection: {
      kind: 'connectionString',
      connectionString: relay.relayed(azurite),
    },
  });
});
afterAll(async () => {
  await relay.close();
  await emulator.close();
});

const order = { scopes: ['chat'] as const, expiresInMinutes: 60 };

describe('issueTokenForUser', () => {
  it('creates the identity with its token in one ACS call, then one call per token', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    const first = gateway.session();
    const created = await issueTokenForUser(deps(store, { acs: first }), user, order);
    expect(first.calls).toBe(1);
    expect((await store.read(user))?.record).toMatchObject({
      ...user,
      generation: 0,
      communicationUserId: created.communicationUserId,
    });

    const second = gateway.session();
    const again = await issueTokenForUser(deps(store, { acs: second }), user, {
      scopes: ['voip'],
      expiresInMinutes: 90,
    });
    expect(second.calls).toBe(1);
    expect(again.communicationUserId).toBe(created.communicationUserId);
    expect(again.token).not.toBe(created.token);
  });

  it('creates once per user when first requests race on Table Storage: the others wait for the claim', async () => {
    relay.setMode('pass');
    const users = [newUser(), newUser(), newUser()];
    const before = new Set(await activeIdentities());
    const operationsBefore = await acsOperations();
    const grants = await Promise.all(
      users.flatMap((user) =>
        Array.from({ length: 8 }, () =>
          issueTokenForUser(deps(relayedStore, { timing: undefined }), user, order),
        ),
      ),
    );
    const operationsAfter = await acsOperations();
    expect(operationsAfter.createIdentity - operationsBefore.createIdentity).toBe(users.length);
    expect(operationsAfter.deleteIdentity - operationsBefore.deleteIdentity).toBe(0);
    for (const [index, user] of users.entries()) {
      const { record } = (await relayedStore.read(user))!;
      expect(
        new Set(grants.slice(index * 8, index * 8 + 8).map((grant) => grant.communicationUserId)),
      ).toEqual(new Set([record.communicationUserId]));
      expect(record.claimId).toBeUndefined();
    }
    const added = (await activeIdentities()).filter((id) => !before.has(id));
    expect(added).toHaveLength(users.length);
  });

  it('takes over the claim of a holder that stopped renewing it, after one lease', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    await store.insert(deadHoldersClaim(user));
    const started = performance.now();
    const grant = await issueTokenForUser(deps(store), user, order);
    expect(performance.now() - started).toBeGreaterThanOrEqual(FAST.leaseMs);
    expect((await store.read(user))?.record.communicationUserId).toBe(grant.communicationUserId);
    expect(logs.some(([, event]) => event.event === 'claim_taken_over')).toBe(true);
  });

  it('renews its claim while ACS is slow, so waiting requests do not take it over', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    const operationsBefore = await acsOperations();
    emulator.setFaults({ latencyMs: 4 * FAST.leaseMs });
    try {
      const grants = await Promise.all(
        Array.from({ length: 4 }, () => issueTokenForUser(deps(store), user, order)),
      );
      expect(new Set(grants.map((grant) => grant.communicationUserId)).size).toBe(1);
    } finally {
      emulator.setFaults({ latencyMs: 0 });
    }
    const operationsAfter = await acsOperations();
    expect(operationsAfter.createIdentity - operationsBefore.createIdentity).toBe(1);
    expect(operationsAfter.deleteIdentity - operationsBefore.deleteIdentity).toBe(0);
  });

  it('releases its claim when ACS fails, so the next request creates at once', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    emulator.setFaults({ failRate: 1, failStatus: 503 });
    try {
      await expect(
        issueTokenForUser(deps(store, { timing: LONG_LEASE }), user, order),
      ).rejects.toBeInstanceOf(AcsUnavailableError);
    } finally {
      emulator.setFaults({ failRate: 0 });
    }
    const released = (await store.read(user))?.record;
    expect(released?.claimId).toBeUndefined();
    expect(released?.communicationUserId).toBeUndefined();
    const started = performance.now();
    await issueTokenForUser(deps(store, { timing: LONG_LEASE }), user, order);
    expect(performance.now() - started).toBeLessThan(LONG_LEASE.leaseMs);
  });

  it('answers IdentityPendingError when another claim outlasts the request budget', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    await store.insert(deadHoldersClaim(user));
    const shortBudget = new AcsGateway(
      createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
      300,
    ).session();
    const error = await issueTokenForUser(
      deps(store, { acs: shortBudget, timing: { ...FAST, leaseMs: 5_000 } }),
      user,
      order,
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IdentityPendingError);
    expect(shortBudget.calls).toBe(0);
  });

  it('serves a user whose identity ACS no longer knows with a new identity, recorded in place', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    const first = await issueTokenForUser(deps(store), user, order);
    await gateway.session().eraseIdentity(first.communicationUserId);
    const second = await issueTokenForUser(deps(store), user, order);
    expect(second.communicationUserId).not.toBe(first.communicationUserId);
    expect((await store.read(user))?.record.communicationUserId).toBe(second.communicationUserId);
  });

  it('deletes the identity it created when the record cannot be written, and leaves no orphan', async () => {
    relay.setMode('pass');
    await relayedStore.ping();
    const user = newUser();
    const before = await activeIdentities();
    relay.setMode('drop-replaces');
    const session = gateway.session();
    const error = await issueTokenForUser(deps(relayedStore, { acs: session }), user, order).catch(
      (caught: unknown) => caught,
    );
    relay.setMode('pass');
    expect(error).toBeInstanceOf(IdentityStoreUnavailableError);
    expect(session.calls).toBe(2); // create, then delete
    expect(await activeIdentities()).toEqual(before);
    expect((await relayedStore.read(user))?.record.communicationUserId).toBeUndefined();
    // The claim it left expires; the next request takes it over and serves the user.
    const grant = await issueTokenForUser(deps(relayedStore), user, order);
    expect((await relayedStore.read(user))?.record.communicationUserId).toBe(grant.communicationUserId);
  });

  it('keeps the identity when the record write landed but its answer was lost', async () => {
    relay.setMode('pass');
    await relayedStore.ping();
    const user = newUser();
    relay.setMode('lose-replace-answers');
    const grant = await issueTokenForUser(deps(relayedStore), user, order);
    relay.setMode('pass');
    expect((await relayedStore.read(user))?.record.communicationUserId).toBe(grant.communicationUserId);
    expect(await activeIdentities()).toContain(grant.communicationUserId);
  });

  it('makes no ACS call when the store cannot be read or the claim cannot be written', async () => {
    for (const mode of ['down', 'drop-inserts'] as const) {
      relay.setMode(mode);
      const session = gateway.session();
      const error = await issueTokenForUser(deps(relayedStore, { acs: session }), newUser(), order).catch(
        (caught: unknown) => caught,
      );
      relay.setMode('pass');
      expect(error).toBeInstanceOf(IdentityStoreUnavailableError);
      expect(session.calls).toBe(0);
    }
  });
});

describe('work sent to ACS, at the edges of time', () => {
  const slowAcs = (latencyMs: number) => emulator.setFaults({ latencyMs });
  const shortSession = (budgetMs: number) =>
    new AcsGateway(
      createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
      budgetMs,
    ).session();
  const waitFor = async (condition: () => Promise<boolean>) => {
    while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
  };

  it('answers 503 on time when ACS is slower than the budget, and records the create when ACS answers', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    const before = await acsOperations();
    slowAcs(800);
    try {
      const started = performance.now();
      const error = await issueTokenForUser(deps(store, { acs: shortSession(400) }), user, order).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(IdentityPendingError);
      expect(performance.now() - started).toBeLessThan(800);
      await waitFor(async () => (await store.read(user))?.record.communicationUserId !== undefined);
    } finally {
      slowAcs(0);
    }
    const after = await acsOperations();
    expect(after.createIdentity - before.createIdentity).toBe(1);
    expect(after.deleteIdentity - before.deleteIdentity).toBe(0);
    const recorded = (await store.read(user))!.record.communicationUserId!;
    expect(await activeIdentities()).toContain(recorded);
    expect((await issueTokenForUser(deps(store), user, order)).communicationUserId).toBe(recorded);
  });

  it('an erase of a user whose first create is pending answers deleted and leaves nothing behind', async () => {
    const store = new MemoryIdentityStore();
    const user = newUser();
    const before = new Set(await activeIdentities());
    slowAcs(600);
    let issuing: Promise<unknown>;
    try {
      issuing = issueTokenForUser(deps(store), user, order).catch((caught: unknown) => caught);
      await waitFor(async () => (await store.read(user))?.record.claimId !== undefined);
      const erased = await deleteUserIdentity({ rows: deps(store).rows, acs: gateway.session() }, user);
      expect(erased).toEqual({ outcome: 'deleted' });
      expect(await issuing).toBeInstanceOf(ErasedMeanwhileError);
    } finally {
      slowAcs(0);
    }
    expect((await store.read(user))?.record).toMatchObject({ erased: true, generation: 1 });
    expect((await store.read(user))?.record.communicationUserId).toBeUndefined();
    expect((await activeIdentities()).filter((id) => !before.has(id))).toEqual([]);
    // A request that reads the row after the erase starts afresh.
    const fresh = await issueTokenForUser(deps(store), user, order);
    expect((await store.read(user))?.record).toMatchObject({
      generation: 1,
      communicationUserId: fresh.communicationUserId,
    });
  });
});

describe('issueTokenForAnonymous', () => {
  it('creates a new identity every time', async () => {
    const first = await issueTokenForAnonymous(gateway.session(), order);
    const second = await issueTokenForAnonymous(gateway.session(), order);
    expect(first.communicationUserId).not.toBe(second.communicationUserId);
  });
});
