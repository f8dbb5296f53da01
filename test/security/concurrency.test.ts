import { CommunicationIdentityClient } from '@azure/communication-identity';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import { startLocalHost } from '../../dev/local-host.js';
import { REQUEST_EVENT } from '../../src/telemetry.js';
import { compareViews } from './consistency.js';
import {
  AbortedByClient,
  authorization,
  FULL,
  Ledger,
  type RawRequest,
  type RawResponse,
  rawRequest,
  registerResponseSecrets,
  type SecureService,
  sizes,
  startSecureService,
  uniqueUser,
} from './harness.js';

const ledger = new Ledger('concurrency');
/**
 * A burst of hundreds of requests queues on a 2-core machine: an answer may take many seconds and still be no hang.
 * Past this, it is one.
 */
const BURST_ANSWER_MS = 120_000;

const services: SecureService[] = [];

afterEach(async () => {
  for (const service of services.splice(0)) await service.close();
});

afterAll(() => {
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
  expect(figures.unexpected5xx).toBe(0);
  expect(figures.duplicates + figures.orphans).toBe(0);
});

async function tableService(faultsInjected = false): Promise<SecureService> {
  const service = await startSecureService(ledger, { store: 'table', faultsInjected });
  services.push(service);
  return service;
}

interface Burst {
  users: string[];
  tokens: Map<string, string>;
  /** user id -> identities seen in 200 answers */
  answered: Map<string, Set<string>>;
}

async function prepareUsers(service: SecureService, count: number, prefix: string): Promise<Burst> {
  const users = Array.from({ length: count }, () => uniqueUser(prefix));
  const tokens = new Map<string, string>();
  for (const user of users) tokens.set(user, await service.callerToken(user));
  return { users, tokens, answered: new Map() };
}

/** The request number `index` of a burst: users in turn (so new users get parallel first requests), both methods. */
function burstRequest(burst: Burst, index: number): { user: string; request: RawRequest } {
  const user = burst.users[index % burst.users.length]!;
  const headers = authorization(burst.tokens.get(user)!);
  const request: RawRequest =
    index % 3 === 0
      ? { method: 'GET', path: '/api/token?scopes=chat', headers }
      : index % 3 === 1
        ? { method: 'POST', path: '/api/token', headers }
        : {
            method: 'POST',
            path: '/api/token',
            headers: { ...headers, 'Content-Type': 'application/json' },
            body: '{"scopes":["chat","voip"],"expiresInMinutes":90}',
          };
  return { user, request };
}

function recordAnswer(burst: Burst, user: string, response: RawResponse) {
  if (response.status !== 200) return;
  const id = (response.json() as { user: { communicationUserId: string } }).user.communicationUserId;
  const userId = devUserIds(user).oid;
  const seen = burst.answered.get(userId) ?? new Set<string>();
  seen.add(id);
  burst.answered.set(userId, seen);
}

/** One token request per user, one after another: each must succeed, and the identity it names is recorded. */
async function serveEachUser(service: SecureService, burst: Burst): Promise<void> {
  for (const user of burst.users) {
    const response = await service.send({
      method: 'POST',
      path: '/api/token',
      headers: authorization(burst.tokens.get(user)!),
    });
    expect(response.status).toBe(200);
    recordAnswer(burst, user, response);
  }
}

/** Compares emulator, store and answers; records duplicates and orphans in the ledger; returns the report. */
async function checkConsistency(service: SecureService, burst: Burst) {
  const report = compareViews(await service.emulatorIdentities(), await service.mappings(), burst.answered);
  ledger.consistency({ duplicates: report.duplicates.length, orphans: report.orphans.length });
  return report;
}

function requestLines(service: SecureService): number {
  return service.logs.filter(({ line }) => line.includes(`"event":"${REQUEST_EVENT}"`)).length;
}

/** Waits until the service logged `count` request lines: every handler finished, whatever the client did. */
async function handlersFinished(
  service: SecureService,
  count: number,
  timeoutMs = BURST_ANSWER_MS,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (requestLines(service) < count) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe(`concurrency without loss over Azurite (${sizes.requests} parallel requests, ${sizes.users} users)`, {
  timeout: FULL ? 600_000 : 120_000,
}, () => {
  it('new and known users in parallel: emulator identities == store mappings == users, one to one', async () => {
    const service = await tableService();
    const burst = await prepareUsers(service, sizes.users, 'burst');
    const known = burst.users.slice(0, Math.floor(burst.users.length / 3));
    for (const user of known) {
      const response = await service.send({
        method: 'POST',
        path: '/api/token',
        headers: authorization(burst.tokens.get(user)!),
      });
      recordAnswer(burst, user, response);
    }

    const sent = Array.from({ length: sizes.requests }, (_, index) => burstRequest(burst, index));
    const responses = await Promise.all(
      sent.map(({ request }) => service.send({ ...request, timeoutMs: BURST_ANSWER_MS })),
    );
    responses.forEach((response, index) => {
      recordAnswer(burst, sent[index]!.user, response);
    });

    expect(responses.map((response) => response.status).filter((status) => status !== 200)).toEqual([]);
    const report = await checkConsistency(service, burst);
    expect(report).toEqual({ duplicates: [], orphans: [], lost: [] });
    expect(burst.answered.size).toBe(burst.users.length);
    expect((await service.mappings()).length).toBe(burst.users.length);
    expect((await service.emulatorIdentities()).length).toBe(burst.users.length);
  });

  it.each(FULL ? ([503, 500, 429] as const) : ([503, 429] as const))(
    'with ACS failing a quarter of the calls (%i): every answer is 200 or 503 + Retry-After, and still no orphan or duplicate',
    async (failStatus) => {
      const service = await tableService(true);
      const burst = await prepareUsers(service, sizes.users, `faulty${failStatus}`);
      service.emulator.setFaults({ failRate: 0.25, failStatus });

      const sent = Array.from({ length: sizes.requests }, (_, index) => burstRequest(burst, index));
      const responses = await Promise.all(
        sent.map(({ request }) => service.send({ ...request, timeoutMs: BURST_ANSWER_MS })),
      );
      responses.forEach((response, index) => {
        recordAnswer(burst, sent[index]!.user, response);
      });
      const unexpected = responses.filter(
        (response) =>
          response.status !== 200 &&
          !(response.status === 503 && /^\d+$/.test(String(response.headers['retry-after']))),
      );
      expect(unexpected.map((response) => `${response.status} ${response.text.slice(0, 120)}`)).toEqual([]);
      expect(responses.some((response) => response.status === 503)).toBe(true);
      expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });

      // Once ACS recovers, every user (served before or not) gets its one identity.
      service.emulator.setFaults({ failRate: 0 });
      await serveEachUser(service, burst);
      expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });
      expect((await service.emulatorIdentities()).length).toBe(burst.users.length);
    },
  );

  it('with requests that die half way (the client hangs up after sending): every handler finishes, nothing half done', async () => {
    const service = await tableService();
    const burst = await prepareUsers(service, sizes.users, 'aborted');
    // ACS answers slowly, so the hang-ups land while the ACS and store calls are in flight.
    service.emulator.setFaults({ latencyMs: 40 });
    const before = requestLines(service);

    const sent = Array.from({ length: sizes.requests }, (_, index) => burstRequest(burst, index));
    const outcomes = await Promise.allSettled(
      sent.map(({ request }, index) =>
        service.send({ ...request, abortAfterSentMs: (index * 7) % 90, timeoutMs: BURST_ANSWER_MS }),
      ),
    );
    let aborted = 0;
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'fulfilled') recordAnswer(burst, sent[index]!.user, outcome.value);
      else if (outcome.reason instanceof AbortedByClient) aborted++;
      else throw outcome.reason;
    });
    expect(aborted).toBeGreaterThan(0);

    expect(
      await handlersFinished(service, before + sent.length),
      'every handler wrote its request line',
    ).toBe(true);
    expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });

    service.emulator.setFaults({ latencyMs: 0 });
    await serveEachUser(service, burst);
    expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });
    expect((await service.emulatorIdentities()).length).toBe(burst.users.length);
  });

  it('with revokes and deletes racing token requests: every answer well-formed, no orphan and no dangling mapping', async () => {
    const service = await tableService();
    const burst = await prepareUsers(service, Math.max(4, sizes.users / 2), 'lifecycle');
    await serveEachUser(service, burst);
    const sent = burst.users.flatMap((user) => {
      const headers = authorization(burst.tokens.get(user)!);
      return [
        { method: 'POST', path: '/api/token', headers },
        { method: 'DELETE', path: '/api/identity', headers },
        { method: 'POST', path: '/api/token', headers, body: '{"expiresInMinutes":70}' },
        { method: 'POST', path: '/api/identity/revoke', headers },
        { method: 'GET', path: '/api/identity', headers },
        { method: 'GET', path: '/api/token?scopes=voip', headers },
      ].map((request) => ({
        ...request,
        headers: { ...request.headers, ...(request.body ? { 'Content-Type': 'application/json' } : {}) },
        timeoutMs: BURST_ANSWER_MS,
      }));
    });
    const responses = await Promise.all(sent.map((request) => service.send(request)));
    const unexpected = responses.filter((response) => ![200, 204, 404].includes(response.status));
    expect(unexpected.map((response) => `${response.status} ${response.text.slice(0, 160)}`)).toEqual([]);
    // Identities change here by design (delete, then a new one), so only emulator == store is compared.
    expect(await checkConsistency(service, { ...burst, answered: new Map() })).toEqual({
      duplicates: [],
      orphans: [],
      lost: [],
    });
  });

  it('a mapping left naming a deleted identity heals on the next token request (no 5xx, no dangling mapping)', async () => {
    const service = await tableService();
    const burst = await prepareUsers(service, 1, 'dangling');
    const headers = authorization(burst.tokens.get(burst.users[0]!)!);
    const first = await service.send({ method: 'POST', path: '/api/token', headers });
    const gone = (first.json() as { user: { communicationUserId: string } }).user.communicationUserId;
    const acs = new CommunicationIdentityClient(service.emulator.connectionString, {
      allowInsecureConnection: true,
    });
    await acs.deleteUser({ communicationUserId: gone });

    const next = await service.send({
      method: 'POST',
      path: '/api/token',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: '{"expiresInMinutes":75}',
    });
    expect(next.status).toBe(200);
    recordAnswer(burst, burst.users[0]!, next);
    expect((next.json() as { user: { communicationUserId: string } }).user.communicationUserId).not.toBe(
      gone,
    );
    expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });
  });

  it('with ACS failing and requests dying at once', async () => {
    const service = await tableService(true);
    const burst = await prepareUsers(service, sizes.users, 'chaos');
    service.emulator.setFaults({ latencyMs: 25, failRate: 0.2, failStatus: 503 });
    const before = requestLines(service);
    const sent = Array.from({ length: sizes.requests }, (_, index) => burstRequest(burst, index));
    const outcomes = await Promise.allSettled(
      sent.map(({ request }, index) =>
        service.send({
          ...request,
          timeoutMs: BURST_ANSWER_MS,
          ...(index % 2 === 0 ? { abortAfterSentMs: (index * 11) % 60 } : {}),
        }),
      ),
    );
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'fulfilled') recordAnswer(burst, sent[index]!.user, outcome.value);
      else if (!(outcome.reason instanceof AbortedByClient)) throw outcome.reason;
    });
    expect(await handlersFinished(service, before + sent.length)).toBe(true);
    expect(await checkConsistency(service, burst)).toEqual({ duplicates: [], orphans: [], lost: [] });
  });
});

describe('the per-user rate limit holds across instances', () => {
  it('three local hosts sharing one table at RATE_LIMIT_PER_MINUTE=10 admit a user about 10 times, not 30', async () => {
    // Reuse off, so every request costs ACS: the shared limit counts ACS work (a reused token is limited per
    // instance only; docs/operating.md).
    const first = await startSecureService(ledger, {
      store: 'table',
      env: { RATE_LIMIT_PER_MINUTE: '10', TOKEN_REUSE: 'false' },
    });
    services.push(first);
    // Two more instances of the same deployment: the same settings, so the same identity and limits tables.
    const others = await Promise.all(
      [0, 1].map(() =>
        startLocalHost({ env: first.env, log: (level, line) => ledger.capture.hostLog(level, line) }),
      ),
    );
    try {
      const hosts = [first.url, ...others.map((host) => host.url)];
      const user = uniqueUser('scale-out');
      const caller = await first.callerToken(user);
      const bystander = await first.callerToken(uniqueUser('bystander'));
      const send = async (host: string, token: string, index: number) => {
        const response = await rawRequest(host, {
          method: 'POST',
          path: '/api/token',
          headers: authorization(token),
          // Distinct client addresses, so only the per-user limit is measured here.
          localAddress: `127.0.1.${(index % 200) + 1}`,
          timeoutMs: BURST_ANSWER_MS,
        });
        ledger.observe(response);
        registerResponseSecrets(ledger.capture, response);
        return response;
      };
      const answers = await Promise.all(
        Array.from({ length: 45 }, (_, index) => send(hosts[index % hosts.length]!, caller, index)),
      );
      const statuses = answers.map((answer) => answer.status);
      const admitted = statuses.filter((status) => status === 200).length;
      ledger.measure(
        'token requests of one user admitted (200) of 45 concurrent over 3 instances, RATE_LIMIT_PER_MINUTE=10',
        admitted,
      );
      // A token refills every 6 s: a slow burst may see one or two more, never a second instance's worth.
      expect(admitted).toBeGreaterThanOrEqual(10);
      expect(admitted).toBeLessThanOrEqual(12);
      expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
      for (const refused of answers.filter((answer) => answer.status === 429)) {
        expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      }
      // Every instance now refuses the user, and none refuses another user.
      for (const [index, host] of hosts.entries()) {
        expect((await send(host, caller, 100 + index)).status).toBe(429);
        expect((await send(host, bystander, 110 + index)).status).toBe(200);
      }
    } finally {
      for (const host of others) await host.close();
    }
  });
});
