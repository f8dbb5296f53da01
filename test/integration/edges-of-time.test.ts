import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import type { IdentityRecord } from '../../src/identities/identity-store.js';
import { TableIdentityStore } from '../../src/identities/table/table-identity-store.js';
import { type Cluster, type Instance, startCluster } from '../support/cluster.js';
import { startStorageRelay } from '../support/storage-relay.js';

/**
 * Issue 18 with real processes: three service instances over one Azurite table and one ACS emulator, with a holder
 * paused (SIGSTOP/SIGCONT), ACS slower than the request budget (the emulator's latency), erasure while requests are
 * in flight, one clock shifted (libfaketime), a hot user, and a revoke whose store writes are lost (a relay in front
 * of Azurite). Each test prints the figure it measured. The request budget is 2 s here (REQUEST_TIMEOUT_MS), so
 * "slower than the budget" takes seconds, not tens of seconds; EDGES_BUDGET_MS=10000 (with a longer --testTimeout)
 * runs the same scenarios at the production default's scale, as issue 18 measured them.
 */
const BUDGET_MS = Number(process.env.EDGES_BUDGET_MS ?? 2_000);
const FAKETIME_LIBRARY = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
let cluster: Cluster;
let run = 0;

beforeAll(async () => {
  cluster = await startCluster({ size: 3, env: { REQUEST_TIMEOUT_MS: String(BUDGET_MS) } });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

const names = (label: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${label}-${++run}-${index}`);

const tokenFrom = (instance: Instance, user: string) => cluster.tokenAnswer(instance, user);

async function eraseAs(instance: Instance, user: string): Promise<number> {
  const response = await fetch(`${instance.url}/api/identity`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${await cluster.tokenFor(user)}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** As a client does: an erase answered 503 (ACS or the store busy, the budget spent) is sent again. */
async function eraseEventually(instance: Instance, user: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const status = await eraseAs(instance, user);
    if (status !== 503 || attempt === 20) return status;
    await sleep(100);
  }
}

async function revokeAs(instance: Instance, user: string): Promise<number> {
  const response = await fetch(`${instance.url}/api/identity/revoke`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await cluster.tokenFor(user)}` },
  });
  await response.arrayBuffer();
  return response.status;
}

async function rows(): Promise<IdentityRecord[]> {
  const store = TableIdentityStore.fromConnectionString(
    inject('azuriteConnectionString'),
    cluster.env.IDENTITY_TABLE_NAME!,
  );
  const found: IdentityRecord[] = [];
  for await (const row of store.list()) found.push(row);
  return found;
}

async function emulatorIdentities(): Promise<string[]> {
  const response = await fetch(new URL('emulator/identities', cluster.emulator.endpoint));
  return ((await response.json()) as { identities: string[] }).identities;
}

/** Polls `condition` until it holds, or fails after `withinMs` (a bound, not a wait: most pass at once). */
async function until(condition: () => Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms`);
    await sleep(50);
  }
}

/** No claim left: every create sent to ACS has been recorded or given up. */
const settled = async () => (await rows()).every((row) => row.claimId === undefined);

/** Live ACS identities of this test no row names (created since `before`). */
async function orphansSince(before: Set<string>): Promise<string[]> {
  const named = new Set((await rows()).map((row) => row.communicationUserId));
  return (await emulatorIdentities()).filter((id) => !before.has(id) && !named.has(id));
}

const azuriteTableEndpoint = () =>
  new URL(/TableEndpoint=([^;]+)/.exec(inject('azuriteConnectionString'))![1]!);

async function withInstances<T>(
  envs: Record<string, string>[],
  body: (instances: Instance[]) => Promise<T>,
): Promise<T> {
  const added = await Promise.all(envs.map((env) => cluster.addInstance(env)));
  try {
    return await body(added);
  } finally {
    for (const instance of added) {
      await instance.stop('SIGKILL');
      cluster.instances.splice(cluster.instances.indexOf(instance), 1);
    }
  }
}

describe('work sent to ACS is never abandoned', () => {
  it('a holder paused past its budget mid-create leaves 0 orphans (issue 18, point 1)', async () => {
    const [holder] = cluster.instances;
    const users = names('paused', 20);
    const before = new Set(await emulatorIdentities());
    const createsBefore = (await cluster.emulatorStats()).operations.createIdentity;
    cluster.emulator.setFaults({ latencyMs: 300 });
    try {
      const answers = Promise.all(users.map((user) => tokenFrom(holder!, user)));
      // Every create has reached ACS (the emulator carries a call out before it holds its answer back).
      await until(
        async () => (await cluster.emulatorStats()).operations.createIdentity - createsBefore >= users.length,
        10_000,
        'the creates reach ACS',
      );
      holder!.process.kill('SIGSTOP');
      await sleep(BUDGET_MS + 1_000); // the pause itself: longer than the request budget
      holder!.process.kill('SIGCONT');
      await answers;
    } finally {
      cluster.emulator.setFaults({ latencyMs: 0 });
    }
    await until(settled, 10_000, 'every claim settles');
    const orphans = await orphansSince(before);
    console.info(
      `edges: holder paused ${BUDGET_MS + 1_000} ms mid-create, 20 users -> ${orphans.length} orphans`,
    );
    expect(orphans).toEqual([]);
  });

  it('ACS slower than the budget leaves 0 orphans and 1 live identity per user (issue 18, point 2)', async () => {
    const users = names('slow', 10);
    const before = new Set(await emulatorIdentities());
    cluster.emulator.setFaults({ latencyMs: BUDGET_MS + 700 });
    let statuses: number[];
    try {
      statuses = (
        await Promise.all(
          users.flatMap((user) => cluster.instances.map((instance) => tokenFrom(instance, user))),
        )
      ).map((answer) => answer.status);
      await until(settled, 15_000, 'every claim settles');
    } finally {
      cluster.emulator.setFaults({ latencyMs: 0 });
    }
    const orphans = await orphansSince(before);
    const live = (await emulatorIdentities()).filter((id) => !before.has(id));
    console.info(
      `edges: ACS answering in ${BUDGET_MS + 700} ms, budget ${BUDGET_MS} ms, ${users.length} users x 3 -> ` +
        `${orphans.length} orphans, ${live.length} live identities`,
    );
    expect(statuses.every((status) => status === 503)).toBe(true);
    expect(orphans).toEqual([]);
    expect(live).toHaveLength(users.length);
  });
});

describe('an erase that answered wins', () => {
  it('erasing 60 users with requests in flight leaves 0 alive (issue 18, point 3)', async () => {
    const [a, b, c] = cluster.instances;
    const known = names('erase-known', 30);
    const pending = names('erase-pending', 30);
    const knownIds = new Set<string>();
    for (const user of known) knownIds.add((await tokenFrom(a!, user)).communicationUserId!);
    const before = new Set(await emulatorIdentities());
    const createsBefore = (await cluster.emulatorStats()).operations.createIdentity;
    cluster.emulator.setFaults({ latencyMs: 800 });
    let erased: number[];
    try {
      const inFlight = [...known, ...pending].flatMap((user) => [tokenFrom(a!, user), tokenFrom(b!, user)]);
      // Half the pending users' creates have reached ACS, their answers held back: the erases race them.
      await until(
        async () =>
          (await cluster.emulatorStats()).operations.createIdentity - createsBefore >= pending.length / 2,
        10_000,
        'the pending creates reach ACS',
      );
      erased = await Promise.all([...known, ...pending].map((user) => eraseEventually(c!, user)));
      await Promise.all(inFlight);
    } finally {
      cluster.emulator.setFaults({ latencyMs: 0 });
    }
    await until(settled, 10_000, 'every claim settles');
    const users = new Set([...known, ...pending].map((user) => devUserIds(user).oid));
    const mapped = (await rows()).filter(
      (row) => users.has(row.userId) && row.communicationUserId !== undefined,
    );
    const alive = (await emulatorIdentities()).filter((id) => knownIds.has(id) || !before.has(id));
    console.info(
      `edges: erased 60 users (30 pending) with 120 token requests in flight -> ${mapped.length} rows and ` +
        `${alive.length} ACS identities alive; erase answers [${[...new Set(erased)]}]`,
    );
    expect(erased.every((status) => status === 204)).toBe(true);
    expect(mapped).toEqual([]);
    expect(alive).toEqual([]);
  });
});

describe('no invariant compares two clocks', () => {
  for (const skew of ['+20s', '-20s']) {
    it(`one instance ${skew} off: 60 requests at a limit of 10 admit at most 11 (issue 18, point 4)`, async () => {
      const limit = { RATE_LIMIT_PER_MINUTE: '10', TOKEN_REUSE: 'false' };
      const skewed = { ...limit, LD_PRELOAD: FAKETIME_LIBRARY, FAKETIME: skew, FAKETIME_NO_CACHE: '1' };
      const admitted = await withInstances([limit, limit, skewed], async (instances) => {
        const [user] = names(`skew${skew}`, 1);
        let count = 0;
        for (let round = 0; round < 20; round++) {
          const answers = await Promise.all(instances.map((instance) => tokenFrom(instance, user!)));
          count += answers.filter((answer) => answer.status === 200).length;
        }
        return count;
      });
      console.info(`edges: one instance's clock ${skew}, limit 10/min, 60 requests -> ${admitted} admitted`);
      expect(admitted).toBeGreaterThanOrEqual(10);
      expect(admitted).toBeLessThanOrEqual(11);
    });
  }
});

describe('a hot user', () => {
  it('120 concurrent requests of one user over three instances at 100000/min get no 429 (issue 18, point 5)', async () => {
    const limit = { RATE_LIMIT_PER_MINUTE: '100000', TOKEN_REUSE: 'false', REQUEST_TIMEOUT_MS: '10000' };
    const statuses = await withInstances([limit, limit, limit], async (instances) => {
      const [user] = names('hot', 1);
      expect((await tokenFrom(instances[0]!, user!)).status).toBe(200);
      const answers = await Promise.all(
        Array.from({ length: 120 }, (_, index) => tokenFrom(instances[index % 3]!, user!)),
      );
      return answers.map((answer) => answer.status);
    });
    const refused = statuses.filter((status) => status === 429).length;
    const others = statuses.filter((status) => status !== 200 && status !== 429);
    console.info(
      `edges: 120 concurrent requests of one user at 100000/min -> ${refused} answered 429, other non-200: [${others}]`,
    );
    expect(refused).toBe(0);
    // On a loaded machine some may run out of budget waiting their turn on the row (503, never a refusal).
    expect(others.every((status) => status === 503)).toBe(true);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(60);
  });
});

describe('a revoke that fails half way', () => {
  it('never lets a revoked token out when the revoking instance cannot write the row (issue 18, point 6)', async () => {
    const relay = await startStorageRelay(azuriteTableEndpoint(), {
      table: cluster.env.IDENTITY_TABLE_NAME!,
    });
    try {
      await withInstances(
        [{ IDENTITY_STORE_CONNECTION_STRING: relay.relayed(inject('azuriteConnectionString')) }],
        async ([revoker]) => {
          const [a, b] = cluster.instances;
          const [user] = names('revoke', 1);
          const first = await tokenFrom(a!, user!);
          expect((await tokenFrom(b!, user!)).token).toBe(first.token); // kept for reuse
          relay.setMode('drop-writes');
          const revoked = await revokeAs(revoker!, user!);
          relay.setMode('pass');
          const later = await Promise.all(
            Array.from({ length: 10 }, (_, i) => tokenFrom(i % 2 ? a! : b!, user!)),
          );
          const dead = [];
          for (const answer of later) {
            if (!(await cluster.introspect(answer.token!)).active) dead.push(answer.token);
          }
          console.info(
            `edges: revoke answered ${revoked} with its row writes lost -> ${dead.length} of 10 later answers revoked`,
          );
          expect(revoked).toBe(503);
          expect(dead).toEqual([]);
        },
      );
    } finally {
      await relay.close();
    }
  });
});

describe('what a token costs the table (issue 21)', () => {
  it("a new user's first token costs at most 2 writes; a known user's reused token 1 read and 0 writes", async () => {
    const relay = await startStorageRelay(azuriteTableEndpoint(), {
      table: cluster.env.IDENTITY_TABLE_NAME!,
    });
    try {
      await withInstances(
        [{ IDENTITY_STORE_CONNECTION_STRING: relay.relayed(inject('azuriteConnectionString')) }],
        async ([counted]) => {
          const [user] = names('counted', 1);
          const before = { ...relay.counts };
          const first = await tokenFrom(counted!, user!);
          const afterFirst = { ...relay.counts };
          const again = await tokenFrom(counted!, user!);
          const afterReuse = { ...relay.counts };
          const newUser = {
            reads: afterFirst.reads - before.reads,
            writes: afterFirst.writes - before.writes,
          };
          const reused = {
            reads: afterReuse.reads - afterFirst.reads,
            writes: afterReuse.writes - afterFirst.writes,
          };
          console.info(
            `edges: table operations: new user ${newUser.reads} reads + ${newUser.writes} writes; reused token ` +
              `${reused.reads} reads + ${reused.writes} writes`,
          );
          expect(again.token).toBe(first.token);
          expect(newUser.writes).toBeLessThanOrEqual(2);
          expect(reused).toEqual({ reads: 1, writes: 0 });
        },
      );
    } finally {
      await relay.close();
    }
  });
});
