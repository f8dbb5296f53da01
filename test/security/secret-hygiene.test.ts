import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import { startLocalHost } from '../../dev/local-host.js';
import { hashUser } from '../../src/log.js';
import { servicesFromEnvironment } from '../../src/services.js';
import { type RunningAzurite, startAzurite } from '../support/azurite.js';
import { LogCapture } from '../support/log-capture.js';
import {
  ADMIN_ROLE,
  authorization,
  Ledger,
  type RawResponse,
  rawRequest,
  type SecureService,
  startSecureService,
  uniqueUser,
} from './harness.js';

const ledger = new Ledger('secret-hygiene');
const { capture } = ledger;
let service: SecureService;
let azurite: RunningAzurite;
/** Every answer the tour got; none may echo a secret either. */
const answers: RawResponse[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  capture.secret('storage connection string', azurite.connectionString);
  service = await startSecureService(ledger, {
    store: 'table',
    storageConnectionString: azurite.connectionString,
    faultsInjected: true,
  });
});

afterAll(async () => {
  await service?.close();
  await azurite?.stop();
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
});

async function send(...args: Parameters<SecureService['send']>) {
  const response = await service.send(...args);
  answers.push(response);
  return response;
}

async function teamsTokenFor(oid: string, appId = service.env.TEAMS_CLIENT_ID!): Promise<string> {
  const response = await fetch(new URL('emulator/teams-users', service.emulator.endpoint), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ appId, userId: oid }),
  });
  return capture.secret('Teams token', ((await response.json()) as { token: string }).token);
}

describe('the log scanner', () => {
  it('finds each kind of leak it is meant to find (so a clean scan means something)', () => {
    const probe = new LogCapture();
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
    const key = 'bXktdmVyeS1zZWNyZXQtYWNjZXNzLWtleS1mb3ItdGVzdHM=';
    probe.secret('ACS access key', key);
    probe.secret('caller JWT', jwt);
    probe.user({
      issuer: 'https://issuer.example',
      userId: '0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c',
      aliases: ['carol-sentinel'],
    });
    const planted = [
      `{"event":"x","key":"${key}"}`,
      `token ${jwt.split('.')[2]}`,
      'endpoint=https://x.example/;accesskey=c29tZS1vdGhlci1rZXk=',
      'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c29tZS1vdGhlci1rZXk=',
      `{"event":"y","detail":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJzb21lb25lIn0.c29tZXRoaW5nLWVsc2U"}`,
      '{"event":"request","user":"0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"}',
      'hello carol-sentinel',
      '{"event":"audit","actor":"alice@example.com"}',
    ];
    for (const line of planted) probe.hostLog('information', line);
    expect(probe.scan().length).toBeGreaterThanOrEqual(planted.length);
    for (const line of planted) {
      const single = new LogCapture();
      single.secret('ACS access key', key);
      single.secret('caller JWT', jwt);
      single.user({
        issuer: 'https://issuer.example',
        userId: '0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c',
        aliases: ['carol-sentinel'],
      });
      single.hostLog('information', line);
      expect(single.scan().length, line).toBeGreaterThan(0);
      expect(JSON.stringify(single.scan())).not.toContain(key);
    }
    const clean = new LogCapture();
    clean.hostLog(
      'information',
      `{"event":"request","user":"${hashUser({ issuer: 'i', userId: 'u' })}","status":200}`,
    );
    expect(clean.scan()).toEqual([]);
  });

  it('captures console output too', () => {
    const probe = new LogCapture();
    probe.captureConsole();
    try {
      console.warn('planted eyJhbGciOiJub25lIn0.eyJzdWIiOiJzb21lb25lIn0.c29tZXRoaW5nLWVsc2U');
    } finally {
      probe.release();
    }
    expect(probe.scan().map((leak) => leak.source)).toEqual(['console']);
  });
});

describe('a tour of every route, success and failure, with secrets sent where they do not belong', () => {
  it('keeps every secret out of every log line and every answer', async () => {
    const user = uniqueUser('hygiene');
    const caller = await service.callerToken(user);
    const admin = await service.callerToken(uniqueUser('hygiene-admin'), { roles: [ADMIN_ROLE] });
    const other = uniqueUser('hygiene-other');
    const otherCaller = await service.callerToken(other);
    const json = { 'Content-Type': 'application/json' };

    // Success paths.
    expect((await send({ method: 'POST', path: '/api/token', headers: authorization(caller) })).status).toBe(
      200,
    );
    expect(
      (await send({ method: 'GET', path: '/api/token?scopes=chat', headers: authorization(caller) })).status,
    ).toBe(200);
    expect(
      (await send({ method: 'GET', path: '/api/identity', headers: authorization(caller) })).status,
    ).toBe(200);
    expect(
      (await send({ method: 'POST', path: '/api/token', headers: authorization(otherCaller) })).status,
    ).toBe(200);
    const teamsToken = await teamsTokenFor(devUserIds(user).oid);
    const teams = await send({
      method: 'POST',
      path: '/api/token/teams',
      headers: { ...authorization(caller), ...json },
      body: JSON.stringify({ teamsUserAadToken: teamsToken }),
    });
    expect(teams.status).toBe(200);

    // Secrets in the wrong places: bodies, queries, headers; none may come back or reach a log.
    const misplaced = [
      JSON.stringify({ scopes: ['chat'], token: caller }),
      JSON.stringify({ scopes: [caller] }),
      JSON.stringify({ connectionString: service.emulator.connectionString }),
      JSON.stringify({ expiresInMinutes: service.emulator.accessKey }),
    ];
    for (const body of misplaced) {
      expect(
        (
          await send({
            method: 'POST',
            path: '/api/token',
            headers: { ...authorization(caller), ...json },
            body,
          })
        ).status,
      ).toBe(400);
    }
    for (const query of [
      `?scopes=${caller}`,
      `?expiresInMinutes=${encodeURIComponent(service.emulator.accessKey)}`,
    ]) {
      expect(
        (await send({ method: 'GET', path: `/api/token${query}`, headers: authorization(caller) })).status,
      ).toBe(400);
    }
    expect((await send({ method: 'GET', path: `/api/${caller}` })).status).toBe(404);
    expect(
      (await send({ method: 'POST', path: '/api/token', headers: { Authorization: `Bearer ${caller}x` } }))
        .status,
    ).toBe(401);
    expect(
      (await send({ method: 'POST', path: '/api/token', headers: { Authorization: `Basic ${caller}` } }))
        .status,
    ).toBe(401);
    expect(
      (
        await send({
          method: 'POST',
          path: '/api/token',
          headers: { Authorization: [`Bearer ${caller}`, `Bearer ${otherCaller}`] },
        })
      ).status,
    ).toBe(401);
    const expired = await service.callerToken(user, {}, { expiresInSeconds: -600 });
    expect((await send({ method: 'POST', path: '/api/token', headers: authorization(expired) })).status).toBe(
      401,
    );

    // Teams failures: ACS refuses a token for another app; the service refuses a malformed one itself.
    const wrongApp = await teamsTokenFor(devUserIds(user).oid, '00000000-0000-4000-8000-000000000000');
    const refusedTeams = await send({
      method: 'POST',
      path: '/api/token/teams',
      headers: { ...authorization(caller), ...json },
      body: JSON.stringify({ teamsUserAadToken: wrongApp }),
    });
    ledger.acsVerdict(refusedTeams);
    expect([400, 401]).toContain(refusedTeams.status);
    expect(
      (
        await send({
          method: 'POST',
          path: '/api/token/teams',
          headers: { ...authorization(caller), ...json },
          body: JSON.stringify({ teamsUserAadToken: `${caller}.extra` }),
        })
      ).status,
    ).toBe(400);

    // Lifecycle and admin actions, including refused ones (audited).
    expect(
      (await send({ method: 'POST', path: '/api/identity/revoke', headers: authorization(caller) })).status,
    ).toBe(204);
    expect(
      (
        await send({
          method: 'POST',
          path: `/api/admin/users/${devUserIds(other).oid}/revoke`,
          headers: authorization(caller),
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await send({
          method: 'POST',
          path: `/api/admin/users/${devUserIds(other).oid}/revoke`,
          headers: authorization(admin),
        })
      ).status,
    ).toBe(204);
    expect(
      (
        await send({
          method: 'DELETE',
          path: `/api/admin/users/${devUserIds(other).oid}`,
          headers: authorization(admin),
        })
      ).status,
    ).toBe(204);
    expect(
      (
        await send({
          method: 'DELETE',
          path: `/api/admin/users/${encodeURIComponent(caller.slice(0, 900))}`,
          headers: authorization(admin),
        })
      ).status,
    ).toBe(404);
    expect(
      (await send({ method: 'DELETE', path: '/api/identity', headers: authorization(caller) })).status,
    ).toBe(204);

    // Failure paths that write error lines: ACS failing and hanging, then the store going away.
    service.emulator.setFaults({ failRate: 1, failStatus: 500 });
    expect((await send({ method: 'POST', path: '/api/token', headers: authorization(caller) })).status).toBe(
      503,
    );
    service.emulator.setFaults({ failRate: 0 });
    await azurite.stop();
    expect(
      (
        await send({
          method: 'POST',
          path: '/api/token',
          headers: authorization(await service.callerToken(uniqueUser('hygiene-new'))),
        })
      ).status,
    ).toBe(503);
    expect((await send({ method: 'GET', path: '/api/health' })).status).toBe(503);
    await azurite.restart();
    expect((await send({ method: 'GET', path: '/api/health' })).status).toBe(200);

    const secrets = [
      caller,
      otherCaller,
      admin,
      teamsToken,
      wrongApp,
      service.emulator.accessKey,
      azurite.connectionString,
    ];
    for (const answer of answers) {
      for (const secret of secrets) {
        const signature = secret.split('.').length === 3 ? secret.split('.')[2]! : secret;
        const echoed = answer.text.includes(secret) || answer.text.includes(signature);
        expect(echoed, `${answer.status} ${answer.text.slice(0, 300).replaceAll(secret, '<secret>')}`).toBe(
          false,
        );
      }
      expect(answer.text).not.toMatch(/accesskey|AccountKey|at .+\.ts:\d+/i);
    }
    expect(capture.scan()).toEqual([]);
  });

  it('names users in logs only by a stable hash, the same on every line and in the audit trail', async () => {
    const alone = await startSecureService(ledger, { store: 'memory' });
    try {
      const user = uniqueUser('hashed');
      const caller = await alone.callerToken(user);
      for (let index = 0; index < 3; index++) {
        expect(
          (await alone.send({ method: 'POST', path: '/api/token', headers: authorization(caller) })).status,
        ).toBe(200);
      }
      expect(
        (await alone.send({ method: 'POST', path: '/api/identity/revoke', headers: authorization(caller) }))
          .status,
      ).toBe(204);
      const expected = hashUser({ issuer: alone.issuer.issuer, userId: devUserIds(user).oid });
      const events = alone.logs.flatMap(({ line }) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
      const named = events.flatMap((event) =>
        ['user', 'actor', 'subject'].map((field) => event[field]).filter((value) => value !== undefined),
      );
      expect(named.length).toBeGreaterThanOrEqual(5);
      expect(new Set(named)).toEqual(new Set([expected]));
      for (const raw of [user, devUserIds(user).oid, devUserIds(user).sub]) {
        expect(alone.logs.some(({ line }) => line.includes(raw))).toBe(false);
      }
    } finally {
      await alone.close();
    }
  });

  it('never logs a setting value, even when the settings are wrong, nor when services log to the console', async () => {
    const leakyKey = Buffer.from('a-secret-access-key-that-must-not-leak').toString('base64');
    capture.secret('ACS access key', leakyKey);
    const badEnvironments = [
      { COMMUNICATION_SERVICES_CONNECTION_STRING: `endpoint=http://contoso.example/;accesskey=${leakyKey}` },
      {
        COMMUNICATION_SERVICES_CONNECTION_STRING: `endpoint=https://contoso.example/;accesskey=${leakyKey}`,
        AUTH_MODE: 'jwt',
      },
      {
        COMMUNICATION_SERVICES_CONNECTION_STRING: `endpoint=https://contoso.example/;accesskey=${leakyKey}`,
        AUTH_MODE: 'anonymous',
        IDENTITY_STORE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=x;AccountKey=${leakyKey};TableEndpoint=http://contoso.example/x`,
      },
      {
        COMMUNICATION_SERVICES_CONNECTION_STRING: leakyKey,
        AUTH_MODE: 'anonymous',
        TOKEN_SCOPES_BY_ROLE: `{"${leakyKey}": 1}`,
      },
    ];
    for (const env of badEnvironments) {
      const host = await startLocalHost({ env, log: capture.hostLog });
      try {
        const answer = await rawRequest(host.url, { method: 'POST', path: '/api/token' });
        expect(answer.status).toBe(503);
        expect(answer.text).not.toContain(leakyKey);
      } finally {
        await host.close();
      }
      // The default logger writes to the console, which the ledger captures as well.
      expect(servicesFromEnvironment(env).ready).toBe(false);
    }
    expect(capture.scan()).toEqual([]);
  });
});
