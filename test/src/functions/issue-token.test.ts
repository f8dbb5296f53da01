import { AzureCommunicationTokenCredential } from '@azure/communication-common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { PROBLEM_CONTENT_TYPE } from '../../../src/http/problem.js';
import { type RunningService, startService } from '../../support/service.js';
import type { ProblemBody, TokenBody } from './api-client.js';

async function expectProblem(response: Response, status: number): Promise<ProblemBody> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as ProblemBody;
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:acs-token-service:problem:/) });
  expect(body.invocationId).toMatch(/^[0-9a-f-]{36}$/);
  return body;
}

/** The oid the dev issuer gives a user name: the user id the service maps. */
const devOid = (user: string) => devUserIds(user).oid;

describe.each(['memory', 'table'] as const)('POST/GET /api/token with the %s store', (store) => {
  let service: RunningService;
  beforeAll(async () => {
    // 100 requests from one address at once below: the rate limits have tests of their own.
    service = await startService({
      store,
      env: { TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join', RATE_LIMIT_PER_MINUTE: '100000' },
    });
  });
  afterAll(() => service.close());

  const post = async (user: string | null, body?: string, headers: Record<string, string> = {}) =>
    service.call('token', {
      method: 'POST',
      headers: {
        ...(user ? { Authorization: `Bearer ${await service.tokenFor(user)}` } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body }),
    });

  it('issues a token for the default scopes and lifetime, with no-store', async () => {
    const response = await post('default-user');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as TokenBody;
    expect(Object.keys(body).sort()).toEqual(['expiresOn', 'token', 'user']);
    expect(body.user.communicationUserId).toMatch(/^8:acs:/);
    const minutes = (Date.parse(body.expiresOn) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(58);
    expect(minutes).toBeLessThanOrEqual(60.5);
    expect(await service.introspect(body.token)).toMatchObject({
      active: true,
      communicationUserId: body.user.communicationUserId,
      scopes: ['chat', 'voip'],
    });
  });

  it('honours requested scopes and lifetime, by POST body and by GET query', async () => {
    const posted = (await (
      await post('scoped', '{"scopes":["chat.join"],"expiresInMinutes":1440}')
    ).json()) as TokenBody;
    expect((Date.parse(posted.expiresOn) - Date.now()) / 60_000).toBeGreaterThan(1438);
    expect(await service.introspect(posted.token)).toMatchObject({ active: true, scopes: ['chat.join'] });

    const got = await service.call('token?scopes=voip,chat&expiresInMinutes=120', {
      headers: { Authorization: `Bearer ${await service.tokenFor('scoped')}` },
    });
    expect(got.status).toBe(200);
    const body = (await got.json()) as TokenBody;
    expect(body.user.communicationUserId).toBe(posted.user.communicationUserId);
    expect(await service.introspect(body.token)).toMatchObject({ active: true, scopes: ['voip', 'chat'] });
  });

  it('gives each user one durable identity: later requests reuse it with one ACS call each', async () => {
    const before = await service.emulatorStats();
    const ids = new Set<string>();
    for (let attempt = 0; attempt < 4; attempt++) {
      ids.add(((await (await post('repeat-user')).json()) as TokenBody).user.communicationUserId);
    }
    const after = await service.emulatorStats();
    expect(ids.size).toBe(1);
    expect(after.operations.createIdentity - before.operations.createIdentity).toBe(1);
    expect(after.operations.issueToken - before.operations.issueToken).toBe(3);
    const other = ((await (await post('another-user')).json()) as TokenBody).user.communicationUserId;
    expect(ids.has(other)).toBe(false);
  });

  it('keeps one identity per user under parallel first requests: identities == mappings == users', async () => {
    const users = Array.from({ length: 5 }, (_, index) => `parallel-${store}-${index}`);
    const before = new Set(await service.emulatorIdentities());
    const statsBefore = await service.emulatorStats();
    const tokens = await Promise.all(users.map((user) => service.tokenFor(user)));
    const responses = await Promise.all(
      tokens.flatMap((token) =>
        Array.from({ length: 20 }, () =>
          service.call('token', { method: 'POST', headers: { Authorization: `Bearer ${token}` } }),
        ),
      ),
    );
    const bodies = await Promise.all(
      responses.map(async (response) => {
        expect(response.status).toBe(200);
        return (await response.json()) as TokenBody;
      }),
    );
    const perUser = users.map(
      (_, index) =>
        new Set(bodies.slice(index * 20, index * 20 + 20).map((body) => body.user.communicationUserId)),
    );
    for (const ids of perUser) expect(ids.size).toBe(1);

    const newIdentities = (await service.emulatorIdentities()).filter((id) => !before.has(id));
    const mappings = (await service.mappings()).filter((mapping) =>
      users.some((user) => mapping.userId === devOid(user)),
    );
    expect(newIdentities.sort()).toEqual(mappings.map((mapping) => mapping.communicationUserId).sort());
    expect(mappings).toHaveLength(users.length);
    expect(new Set(perUser.flatMap((ids) => [...ids]))).toEqual(new Set(newIdentities));

    const statsAfter = await service.emulatorStats();
    const created = statsAfter.operations.createIdentity - statsBefore.operations.createIdentity;
    const deleted = statsAfter.operations.deleteIdentity - statsBefore.operations.deleteIdentity;
    expect(created - deleted).toBe(users.length);
  });

  it('answers 400 naming each invalid field, and calls no ACS', async () => {
    const before = await service.emulatorStats();
    const cases: [string | undefined, string, string[]][] = [
      ['{"scopes":["chat","teleport"]}', 'POST', ['scopes[1]']],
      ['{"scopes":[]}', 'POST', ['scopes']],
      ['{"scopes":"chat"}', 'POST', ['scopes']],
      ['{"expiresInMinutes":59}', 'POST', ['expiresInMinutes']],
      ['{"expiresInMinutes":1441}', 'POST', ['expiresInMinutes']],
      ['{"expiresInMinutes":60.5}', 'POST', ['expiresInMinutes']],
      ['{"expiresInMinutes":"60"}', 'POST', ['expiresInMinutes']],
      ['{"scope":["chat"],"expiresInMinutes":30}', 'POST', ['scope', 'expiresInMinutes']],
      ['{"scopes":', 'POST', ['body']],
      ['[]', 'POST', ['body']],
      [undefined, 'GET:scopes=teleport', ['scopes[0]']],
      [undefined, 'GET:expiresInMinutes=abc', ['expiresInMinutes']],
      [undefined, 'GET:expiresInMinutes=30', ['expiresInMinutes']],
      [undefined, 'GET:scopes=chat&scopes=voip', ['scopes']],
    ];
    for (const [body, how, fields] of cases) {
      const response = how.startsWith('GET:')
        ? await service.call(`token?${how.slice(4)}`, {
            headers: { Authorization: `Bearer ${await service.tokenFor('bad-input')}` },
          })
        : await post('bad-input', body);
      const problem = await expectProblem(response, 400);
      expect(problem.errors?.map((error) => error.name).sort(), `${how} ${body}`).toEqual([...fields].sort());
    }
    const after = await service.emulatorStats();
    expect(after.operations).toEqual(before.operations);
  });

  it('answers 403 for a known scope this service does not issue', async () => {
    const problem = await expectProblem(await post('greedy', '{"scopes":["chat","voip.join"]}'), 403);
    expect(problem.detail).toContain('voip.join');
  });

  it('answers 415 for a body that is not JSON and 413 for one over the limit', async () => {
    await expectProblem(
      await post('media', 'scopes=chat', { 'Content-Type': 'application/x-www-form-urlencoded' }),
      415,
    );
    await expectProblem(
      await post('media', JSON.stringify({ scopes: ['chat'], pad: 'x'.repeat(20_000) })),
      413,
    );
  });

  it('answers 401 with WWW-Authenticate and calls no ACS when the caller is not verified', async () => {
    const before = await service.emulatorStats();
    const none = await post(null);
    await expectProblem(none, 401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');

    const expired = await service.tokenFor('late', {}, { expiresInSeconds: -3600 });
    for (const authorization of [`Bearer ${expired}`, 'Bearer not-a-jwt', `Basic ${btoa('a:b')}`]) {
      const response = await service.call('token', {
        method: 'POST',
        headers: { Authorization: authorization },
      });
      await expectProblem(response, 401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    const viaQuery = await service.call(`token?access_token=${await service.tokenFor('q')}`);
    await expectProblem(viaQuery, 401);
    expect((await service.emulatorStats()).operations).toEqual(before.operations);
  });

  it('logs one line per request with a hashed user and never the token or the user id', async () => {
    const token = await service.tokenFor('logged-user');
    const response = await service.call('token', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    const issued = (await response.json()) as TokenBody;
    const lines = service.logs.map((record) => record.line);
    const requestLines = lines.map((line) => JSON.parse(line)).filter((event) => event.event === 'request');
    const requestLine = requestLines.at(-1);
    expect(requestLine).toMatchObject({
      route: 'issueToken',
      method: 'POST',
      status: 200,
      outcome: 'ok',
      acsCalls: 1,
    });
    expect(requestLine.latencyMs).toBeGreaterThanOrEqual(0);
    expect(requestLine.user).toMatch(/^[0-9a-f]{16}$/);
    const all = lines.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(issued.token);
    expect(all).not.toContain(devOid('logged-user'));
    expect(all).not.toContain(service.emulator.accessKey);
  });
});

describe('ACS failures', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { REQUEST_TIMEOUT_MS: '500' } });
  });
  afterAll(() => service.close());

  it('answers 503 with ACS Retry-After when ACS throttles', async () => {
    service.emulator.setFaults({ failRate: 1, failStatus: 429, retryAfterSeconds: 9 });
    try {
      const response = await service.requestToken('throttled');
      const problem = await expectProblem(response, 503);
      expect(response.headers.get('retry-after')).toBe('9');
      expect(JSON.stringify(problem)).not.toMatch(/RestError|Retry-After header|stack/i);
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
  });

  it('answers 503 with Retry-After when ACS hangs past the time budget', async () => {
    service.emulator.setFaults({ latencyMs: 3_000 });
    try {
      const response = await service.requestToken('hanging');
      await expectProblem(response, 503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      service.emulator.setFaults({ latencyMs: 0 });
    }
  });

  it('answers 502 when ACS refuses the service (wrong access key), without the SDK message', async () => {
    const wrongKey = await startService({
      emulator: service.emulator,
      issuer: service.issuer,
      env: {
        COMMUNICATION_SERVICES_CONNECTION_STRING: service.emulator.connectionString.replace(
          /accesskey=.*/i,
          `accesskey=${Buffer.from('not the key').toString('base64')}`,
        ),
      },
    });
    try {
      const response = await wrongKey.requestToken('refused');
      const problem = await expectProblem(response, 502);
      expect(problem.detail).toBe('Azure Communication Services refused the request.');
    } finally {
      await wrongKey.close();
    }
  });
});

describe('AUTH_MODE=anonymous', () => {
  it('gives every call a fresh identity and stores nothing, after a start-up warning', async () => {
    const service = await startService({
      env: { AUTH_MODE: 'anonymous', AUTH_ISSUER: undefined, AUTH_AUDIENCE: undefined },
    });
    try {
      const first = (await (await service.call('token', { method: 'POST' })).json()) as TokenBody;
      const second = (await (await service.call('token?scopes=chat')).json()) as TokenBody;
      expect(first.user.communicationUserId).not.toBe(second.user.communicationUserId);
      expect(await service.mappings()).toEqual([]);
      expect(
        service.logs.some((record) => record.level === 'warning' && record.line.includes('anonymous_mode')),
      ).toBe(true);
    } finally {
      await service.close();
    }
  });
});

describe('a real ACS client', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ store: 'table' });
  });
  afterAll(() => service.close());

  it('AzureCommunicationTokenCredential gets an active token with the requested scopes from POST /api/token', async () => {
    const callerToken = await service.tokenFor('sdk-user');
    let refreshes = 0;
    const credential = new AzureCommunicationTokenCredential({
      tokenRefresher: async (abortSignal) => {
        refreshes++;
        const response = await service.call('token', {
          method: 'POST',
          headers: { Authorization: `Bearer ${callerToken}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ scopes: ['voip'], expiresInMinutes: 60 }),
          ...(abortSignal ? { signal: abortSignal as AbortSignal } : {}),
        });
        if (!response.ok) throw new Error(`token service answered ${response.status}`);
        return ((await response.json()) as TokenBody).token;
      },
    });
    try {
      const accessToken = await credential.getToken();
      expect(refreshes).toBe(1);
      expect(accessToken.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
      expect(await service.introspect(accessToken.token)).toMatchObject({ active: true, scopes: ['voip'] });
      const mapping = (await service.mappings()).find((entry) => entry.userId === devUserIds('sdk-user').oid);
      expect((await service.introspect(accessToken.token)).communicationUserId).toBe(
        mapping?.communicationUserId,
      );
    } finally {
      credential.dispose();
    }
  });
});

describe('AUTH_MODE=easyauth', () => {
  it('serves the App Service principal one durable identity, and refuses requests without one', async () => {
    const service = await startService({
      env: {
        AUTH_MODE: 'easyauth',
        WEBSITE_AUTH_ENABLED: 'true',
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
      },
    });
    const principal = Buffer.from(
      JSON.stringify({
        auth_typ: 'aad',
        claims: [
          { typ: 'iss', val: 'https://login.microsoftonline.com/tenant/v2.0' },
          { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'easy-oid' },
        ],
      }),
    ).toString('base64');
    try {
      const ask = () =>
        service.call('token', { method: 'POST', headers: { 'x-ms-client-principal': principal } });
      const first = (await (await ask()).json()) as TokenBody;
      const second = (await (await ask()).json()) as TokenBody;
      expect(second.user.communicationUserId).toBe(first.user.communicationUserId);
      expect(await service.mappings()).toEqual([
        expect.objectContaining({
          issuer: 'https://login.microsoftonline.com/tenant/v2.0',
          userId: 'easy-oid',
        }),
      ]);
      const refused = await service.call('token', { method: 'POST' });
      await expectProblem(refused, 401);
    } finally {
      await service.close();
    }
  });
});
