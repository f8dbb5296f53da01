import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { odata } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import { startKeyVaultEmulator } from '../../dev/keyvault/index.js';
import { tableClientFromConnectionString } from '../../src/shared/table-client.js';
import { type Cluster, type Instance, startCluster, type TokenAnswer } from '../support/cluster.js';

/**
 * Three service processes over one Azurite table and one ACS emulator: the deployment as Flex Consumption runs it.
 * Each test names the guarantee it checks across instances (issue: scale-out) and prints the figures it measured.
 */
const ADMIN_ROLE = 'Token.Admin';
let cluster: Cluster;
let run = 0;

beforeAll(async () => {
  cluster = await startCluster({ size: 3, env: { AUTH_ADMIN_ROLE: ADMIN_ROLE } });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

const names = (label: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${label}-${++run}-${index}`);

type Answer = TokenAnswer;

const tokenFrom = (instance: Instance, user: string): Promise<Answer> => cluster.tokenAnswer(instance, user);

/** As a client does: retries a 503 (ACS or the store busy) a few times, quickly. */
async function tokenEventually(instance: Instance, user: string): Promise<Answer> {
  for (let attempt = 0; ; attempt++) {
    const answer = await tokenFrom(instance, user);
    if (answer.status !== 503 || attempt === 20) return answer;
    await sleep(50);
  }
}

async function operations() {
  const stats = await cluster.emulatorStats();
  return { ...stats.operations, active: stats.identities.active };
}

async function send(instance: Instance, method: string, path: string, user: string, roles?: string[]) {
  const token = await cluster.tokenFor(user, roles ? { roles } : {});
  const response = await fetch(`${instance.url}/api/${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('three instances behave as one service', () => {
  it('creates one ACS identity per new user when its first six requests arrive at once over three instances', async () => {
    const users = names('burst', 20);
    const before = await operations();
    const answers = await Promise.all(
      users.map((user) =>
        Promise.all(
          cluster.instances.flatMap((instance) => [tokenFrom(instance, user), tokenFrom(instance, user)]),
        ),
      ),
    );
    const after = await operations();
    const creates = after.createIdentity - before.createIdentity;
    console.info(
      `scale-out: ${users.length} new users x 6 concurrent first requests over 3 instances -> ` +
        `${creates} creates (${(creates / users.length).toFixed(2)} per user), ` +
        `${after.deleteIdentity - before.deleteIdentity} deletes, ${after.active - before.active} new identities`,
    );
    for (const perUser of answers) {
      expect(perUser.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(new Set(perUser.map((answer) => answer.communicationUserId)).size).toBe(1);
    }
    expect(creates / users.length).toBeLessThanOrEqual(1.1);
    expect(after.deleteIdentity - before.deleteIdentity).toBe(0);
    expect(after.active - before.active).toBe(users.length);
  });

  for (const failStatus of [503, 429] as const) {
    it(`leaves no orphan when ACS fails 30% of calls with ${failStatus} and Retry-After`, async () => {
      const users = names(`faults-${failStatus}`, 15);
      const before = await operations();
      cluster.emulator.setFaults({ failRate: 0.3, failStatus });
      let answers: Answer[][];
      try {
        answers = await Promise.all(
          users.map((user) =>
            Promise.all(cluster.instances.map((instance) => tokenEventually(instance, user))),
          ),
        );
      } finally {
        cluster.emulator.setFaults({ failRate: 0 });
      }
      const after = await operations();
      const orphans = after.active - before.active - users.length;
      console.info(
        `scale-out: ${failStatus} on 30% of ACS calls, ${users.length} users x 3 instances -> ` +
          `${after.createIdentity - before.createIdentity} creates, ${orphans} orphans`,
      );
      for (const perUser of answers) {
        expect(perUser.map((answer) => answer.status)).toEqual([200, 200, 200]);
        expect(new Set(perUser.map((answer) => answer.communicationUserId)).size).toBe(1);
      }
      expect(orphans).toBe(0);
    });
  }

  it('shares reusable tokens: known users asking round-robin cost at most 20 ACS calls per 1,000 requests', async () => {
    const users = names('reuse', 25);
    for (const [index, user] of users.entries()) {
      expect((await tokenFrom(cluster.instances[index % 3]!, user)).status).toBe(200);
    }
    const before = await operations();
    const requests = Array.from({ length: 1000 }, (_, index) => ({
      instance: cluster.instances[index % 3]!,
      user: users[Math.floor(index / 3) % users.length]!,
    }));
    for (let start = 0; start < requests.length; start += 25) {
      const batch = requests.slice(start, start + 25);
      const answers = await Promise.all(batch.map(({ instance, user }) => tokenFrom(instance, user)));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
    }
    const after = await operations();
    const acsCalls = after.issueToken - before.issueToken + (after.createIdentity - before.createIdentity);
    console.info(
      `scale-out: 1,000 known-user requests round-robin over 3 instances -> ${acsCalls} ACS calls`,
    );
    expect(acsCalls).toBeLessThanOrEqual(20);
  });

  it('revokes and erases at once everywhere: no instance hands out a dead token right after the answer', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
    const user = names('revoke', 1)[0]!;
    const first = await tokenFrom(a, user);
    for (const instance of [a, b, c]) expect((await tokenFrom(instance, user)).token).toBe(first.token);

    expect(await send(b, 'POST', 'identity/revoke', user)).toBe(204);
    const afterRevoke = await Promise.all([a, b, c].map((instance) => tokenFrom(instance, user)));
    expect((await cluster.introspect(first.token!)).active).toBe(false);
    for (const answer of afterRevoke) {
      expect(answer.token).not.toBe(first.token);
      expect((await cluster.introspect(answer.token!)).active).toBe(true);
    }

    expect(await send(c, 'DELETE', 'identity', user)).toBe(204);
    const afterErase = await Promise.all([a, b, c].map((instance) => tokenFrom(instance, user)));
    for (const answer of afterErase) {
      expect(answer.communicationUserId).not.toBe(first.communicationUserId);
      expect((await cluster.introspect(answer.token!)).active).toBe(true);
    }
    for (const answer of afterRevoke) expect((await cluster.introspect(answer.token!)).active).toBe(false);

    // An administrator's erasure of a signed-in user, answered by one instance, holds on the others too.
    const { oid } = devUserIds(user);
    expect(await send(a, 'DELETE', `admin/users/${encodeURIComponent(oid)}`, 'an-admin', [ADMIN_ROLE])).toBe(
      204,
    );
    const afterAdmin = await Promise.all([b, c].map((instance) => tokenFrom(instance, user)));
    for (const answer of afterErase) expect((await cluster.introspect(answer.token!)).active).toBe(false);
    for (const answer of afterAdmin) {
      expect(answer.communicationUserId).not.toBe(afterErase[0]!.communicationUserId);
      expect((await cluster.introspect(answer.token!)).active).toBe(true);
    }
  });

  it('drains requests in flight when an instance gets SIGTERM', async () => {
    const leaving = await cluster.addInstance();
    cluster.emulator.setFaults({ latencyMs: 1_000 });
    try {
      const inFlight = tokenFrom(leaving, names('drain', 1)[0]!);
      await sleep(300);
      const exit = leaving.stop('SIGTERM');
      expect((await inFlight).status).toBe(200);
      expect(await exit).toBe(0);
    } finally {
      cluster.emulator.setFaults({ latencyMs: 0 });
      cluster.instances.splice(cluster.instances.indexOf(leaving), 1);
    }
    await expect(fetch(`${leaving.url}/api/health`)).rejects.toThrow();
  });

  it('serves every user normally after an instance is killed while provisioning them; orphans at most the creates in flight', async () => {
    const victim = await cluster.addInstance();
    const users = names('killed', 5);
    const before = await operations();
    cluster.emulator.setFaults({ latencyMs: 1_500 });
    const lost = users.map((user) => tokenFrom(victim, user).catch(() => ({ status: 0 })));
    await sleep(500);
    await victim.stop('SIGKILL');
    cluster.instances.splice(cluster.instances.indexOf(victim), 1);
    await Promise.all(lost);
    cluster.emulator.setFaults({ latencyMs: 0 });
    const createsInFlight = (await operations()).createIdentity - before.createIdentity;

    const started = performance.now();
    const served = await Promise.all(users.map((user) => tokenFrom(cluster.instances[1]!, user)));
    const servedMs = performance.now() - started;
    const again = await Promise.all(users.map((user) => tokenFrom(cluster.instances[2]!, user)));
    const after = await operations();
    const orphans = after.active - before.active - users.length;
    console.info(
      `scale-out: SIGKILL with ${users.length} users provisioning -> ${createsInFlight} creates in flight, ` +
        `${orphans} orphans, next requests served in ${Math.round(servedMs)} ms`,
    );
    expect(served.map((answer) => answer.status)).toEqual(users.map(() => 200));
    expect(again.map((answer) => answer.communicationUserId)).toEqual(
      served.map((answer) => answer.communicationUserId),
    );
    expect(orphans).toBeLessThanOrEqual(createsInFlight);
  }, 60_000);

  it('shares reusable tokens sealed with a key derived in Key Vault, as deployed in Azure', async () => {
    const vault = await startKeyVaultEmulator({ tlsDir: path.dirname(inject('emulatorCaCertPath')) });
    const tableName = `Sealed${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    vault.createKey('token-sealing');
    const azure = {
      IDENTITY_TABLE_NAME: tableName,
      TOKEN_SEALING_KEY_URL: vault.keyUrl('token-sealing'),
      IDENTITY_ENDPOINT: vault.managedIdentity.endpoint,
      IDENTITY_HEADER: vault.managedIdentity.header,
    };
    const instances = [await cluster.addInstance(azure), await cluster.addInstance(azure)];
    try {
      const user = names('sealed', 1)[0]!;
      const first = await tokenFrom(instances[0]!, user);
      const second = await tokenFrom(instances[1]!, user);
      expect(second.token).toBe(first.token);

      const rows = tableClientFromConnectionString(inject('azuriteConnectionString'), tableName);
      const matching = rows.listEntities<{ reusableTokens?: string }>({
        queryOptions: { filter: odata`communicationUserId eq ${first.communicationUserId}` },
      });
      const row = (await matching.next()).value;
      // Sealed under the Key Vault key's data key, not the development key, and no token in the clear.
      expect(row?.reusableTokens).toMatch(/^s1\./);
      expect(row?.reusableTokens).not.toMatch(/^s1\.dev\./);
      expect(row?.reusableTokens).not.toContain(first.token!.slice(0, 40));
      // Each instance derives the data key once, with one signature; no key is stored anywhere.
      expect(vault.stats().sign).toBe(2);
    } finally {
      for (const instance of instances) {
        await instance.stop('SIGKILL');
        cluster.instances.splice(cluster.instances.indexOf(instance), 1);
      }
      await vault.close();
    }
  });

  it('holds the per-user limit for the deployment: three instances at 10 a minute admit one user about 10 times', async () => {
    // Reuse off, so every request costs ACS: the shared limit counts ACS work (a reused token is limited per
    // instance only; docs/operating.md).
    const limited: Instance[] = [];
    for (let index = 0; index < 3; index++)
      limited.push(await cluster.addInstance({ RATE_LIMIT_PER_MINUTE: '10', TOKEN_REUSE: 'false' }));
    try {
      const user = names('limited', 1)[0]!;
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, index) => tokenFrom(limited[index % 3]!, user)),
      );
      const admitted = answers.filter((answer) => answer.status === 200).length;
      console.info(
        `scale-out: RATE_LIMIT_PER_MINUTE=10, 30 requests of one user over 3 instances -> ${admitted} admitted`,
      );
      expect(answers.every((answer) => answer.status === 200 || answer.status === 429)).toBe(true);
      expect(admitted).toBeGreaterThanOrEqual(10);
      expect(admitted).toBeLessThanOrEqual(12);
    } finally {
      for (const instance of limited) {
        await instance.stop('SIGKILL');
        cluster.instances.splice(cluster.instances.indexOf(instance), 1);
      }
    }
  });
});
