import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { MAX_TEAMS_TOKEN_LENGTH } from '../../../src/functions/issue-teams-token.js';
import { type RunningService, startService } from '../../support/service.js';
import { callAs, expectProblem, LIFECYCLE_TEST_ENV } from './api-client.js';

const TEAMS_CLIENT_ID = '1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516';

/** An Entra-like Teams user token from the emulator (what MSAL would give the Teams user). */
async function teamsUserToken(
  service: RunningService,
  claims: { appId?: string; userId: string; tenantId?: string; expiresInSeconds?: number },
): Promise<string> {
  const response = await fetch(new URL('emulator/teams-users', service.emulator.endpoint), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ appId: TEAMS_CLIENT_ID, ...claims }),
  });
  return ((await response.json()) as { token: string }).token;
}

const exchangeCalls = async (service: RunningService) =>
  (await service.emulatorStats()).operations.exchangeTeamsToken;

describe('POST /api/token/teams', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, TEAMS_CLIENT_ID } });
  });
  afterAll(() => service.close());

  it("exchanges the caller's own Teams token for an ACS token of that Teams user", async () => {
    const oid = devUserIds('teams-tom').oid;
    const teamsUserAadToken = await teamsUserToken(service, { userId: oid });
    const response = await callAs(service, 'teams-tom', 'POST', 'token/teams', {
      body: { teamsUserAadToken },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as { token: string; expiresOn: string };
    expect(Object.keys(body).sort()).toEqual(['expiresOn', 'token']);
    expect(Date.parse(body.expiresOn)).toBeGreaterThan(Date.now());
    expect(await service.introspect(body.token)).toMatchObject({
      active: true,
      communicationUserId: `8:orgid:${oid}`,
    });

    const everything = service.logs.map(({ line }) => line).join('\n');
    expect(everything).not.toContain(teamsUserAadToken);
    expect(everything).not.toContain(body.token);
  });

  it("refuses someone else's Teams token with a 400 from ACS's refusal", async () => {
    const teamsUserAadToken = await teamsUserToken(service, { userId: devUserIds('teams-victim').oid });
    const body = await expectProblem(
      await callAs(service, 'teams-thief', 'POST', 'token/teams', { body: { teamsUserAadToken } }),
      400,
      'invalid-request',
    );
    expect(body.detail).toMatch(/TEAMS_CLIENT_ID.*signed-in user/);
  });

  it('refuses a token for another application with a 400', async () => {
    const oid = devUserIds('teams-ann').oid;
    const teamsUserAadToken = await teamsUserToken(service, { userId: oid, appId: randomUUID() });
    await expectProblem(
      await callAs(service, 'teams-ann', 'POST', 'token/teams', { body: { teamsUserAadToken } }),
      400,
      'invalid-request',
    );
  });

  it('turns an expired Teams token into a 401 problem about that token', async () => {
    const oid = devUserIds('teams-late').oid;
    const teamsUserAadToken = await teamsUserToken(service, { userId: oid, expiresInSeconds: -600 });
    const response = await callAs(service, 'teams-late', 'POST', 'token/teams', {
      body: { teamsUserAadToken },
    });
    const body = await expectProblem(response, 401, 'unauthenticated');
    expect(body.detail).toMatch(/Teams user token/);
    expect(body.errors).toEqual([expect.objectContaining({ name: 'teamsUserAadToken' })]);
  });

  it('says so when a tenant id was sent as the object id, without calling ACS', async () => {
    const oid = devUserIds('teams-confused').oid;
    const teamsUserAadToken = await teamsUserToken(service, { userId: randomUUID(), tenantId: oid });
    const before = await exchangeCalls(service);
    const body = await expectProblem(
      await callAs(service, 'teams-confused', 'POST', 'token/teams', { body: { teamsUserAadToken } }),
      400,
      'invalid-request',
    );
    expect(body.detail).toMatch(/tenant id was sent as the object id/);
    expect(await exchangeCalls(service)).toBe(before);
  });

  it('checks the input before calling ACS', async () => {
    const before = await exchangeCalls(service);
    const cases: [unknown, string][] = [
      [{}, 'teamsUserAadToken'],
      [{ teamsUserAadToken: '' }, 'teamsUserAadToken'],
      [{ teamsUserAadToken: 42 }, 'teamsUserAadToken'],
      [{ teamsUserAadToken: 'not a jwt' }, 'teamsUserAadToken'],
      [{ teamsUserAadToken: `a.${'b'.repeat(MAX_TEAMS_TOKEN_LENGTH)}.c` }, 'teamsUserAadToken'],
      [{ teamsUserAadToken: 'bm90.anNvbg.c2ln' }, 'teamsUserAadToken'],
      [{ teamsUserAadToken: 'a.b.c', extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const problem = await expectProblem(
        await callAs(service, 'teams-tom', 'POST', 'token/teams', { body }),
        400,
        'invalid-request',
      );
      expect(problem.errors?.map((error) => error.name)).toContain(field);
      expect(JSON.stringify(problem)).not.toContain('bbbbbbbbbb');
    }
    await expectProblem(await callAs(service, 'teams-tom', 'POST', 'token/teams'), 400, 'invalid-request');
    expect(await exchangeCalls(service)).toBe(before);
  });

  it('needs a verified caller', async () => {
    await expectProblem(
      await callAs(service, null, 'POST', 'token/teams', { body: { teamsUserAadToken: 'a.b.c' } }),
      401,
      'unauthenticated',
    );
  });
});

describe('POST /api/token/teams for callers identified by another claim than oid', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, TEAMS_CLIENT_ID, AUTH_USER_CLAIM: 'sub' } });
  });
  afterAll(() => service.close());

  it('refuses a caller whose token has no oid claim, without calling ACS', async () => {
    const withoutOid = await service.issuer.mint({ sub: 'no-oid-user' });
    const response = await service.call('token/teams', {
      method: 'POST',
      headers: { Authorization: `Bearer ${withoutOid}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ teamsUserAadToken: 'a.b.c' }),
    });
    const body = await expectProblem(response, 400, 'invalid-request');
    expect(body.detail).toMatch(/oid claim/);
    expect(await exchangeCalls(service)).toBe(0);
  });
});

describe('POST /api/token/teams without TEAMS_CLIENT_ID', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: LIFECYCLE_TEST_ENV });
  });
  afterAll(() => service.close());

  it('answers a problem saying Teams users are not enabled, and calls nothing', async () => {
    const body = await expectProblem(
      await callAs(service, 'teams-tom', 'POST', 'token/teams', { body: { teamsUserAadToken: 'a.b.c' } }),
      404,
      'not-found',
    );
    expect(body.detail).toMatch(/Teams users are not enabled/);
    expect(await exchangeCalls(service)).toBe(0);
  });
});
