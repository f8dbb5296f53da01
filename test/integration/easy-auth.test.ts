import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, LIFECYCLE_TEST_ENV, type TokenBody } from '../src/functions/api-client.js';
import { type RunningService, startService } from '../support/service.js';

const TENANT = randomUUID();
const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const OBJECT_ID_CLAIM = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const ROLE_CLAIM = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';
const ADMIN_ROLE = 'Tokens.Admin';
const TEAMS_CLIENT_ID = '0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9';

interface EntraUser {
  oid: string;
  roles?: string[];
  /** The claim type the principal names for roles (`role_typ`); Entra's own `roles` claims are read either way. */
  roleType?: string;
  /** The `iss` the principal carries: Entra's v2 issuer by default, its v1 issuer, or none at all. */
  issuer?: 'v2' | 'v1' | 'none';
}

const ISSUER_CLAIMS = {
  v2: [{ typ: 'iss', val: ISSUER }],
  v1: [{ typ: 'iss', val: `https://sts.windows.net/${TENANT}/` }],
  none: [],
};

/** The headers App Service Authentication puts on a request it has authenticated with Microsoft Entra ID. */
function appServiceHeaders({
  oid,
  roles = [],
  roleType = ROLE_CLAIM,
  issuer = 'v2',
}: EntraUser): Record<string, string> {
  const principal = {
    auth_typ: 'aad',
    name_typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
    role_typ: roleType,
    claims: [
      ...ISSUER_CLAIMS[issuer],
      { typ: 'aud', val: randomUUID() },
      { typ: OBJECT_ID_CLAIM, val: oid },
      { typ: 'http://schemas.microsoft.com/identity/claims/tenantid', val: TENANT },
      { typ: 'name', val: 'Test User' },
      ...roles.map((role) => ({ typ: roleType === ROLE_CLAIM ? 'roles' : roleType, val: role })),
    ],
  };
  return {
    'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64'),
    'x-ms-client-principal-idp': 'aad',
    'x-ms-client-principal-id': oid,
    'x-ms-client-principal-name': 'user@contoso.example',
  };
}

describe('AUTH_MODE=easyauth behind App Service Authentication', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({
      store: 'table',
      env: {
        ...LIFECYCLE_TEST_ENV,
        AUTH_MODE: 'easyauth',
        WEBSITE_AUTH_ENABLED: 'True',
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
        AUTH_ADMIN_ROLE: ADMIN_ROLE,
        TEAMS_CLIENT_ID,
        TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join.limited',
        TOKEN_SCOPES_BY_ROLE: JSON.stringify({ guest: ['chat.join.limited'], member: ['chat', 'voip'] }),
      },
    });
  });
  afterAll(() => service.close());

  const call = (user: EntraUser | null, method: string, path: string, body?: unknown) =>
    fetch(service.api(path), {
      method,
      headers: {
        ...(user ? appServiceHeaders(user) : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const token = async (user: EntraUser, body?: unknown) => {
    const response = await call(user, 'POST', 'token', body);
    expect(response.status).toBe(200);
    return (await response.json()) as TokenBody;
  };

  it('scopes follow the Entra roles claims of the principal', async () => {
    const member = { oid: randomUUID(), roles: ['member'] };
    expect(await service.introspect((await token(member)).token)).toMatchObject({ scopes: ['chat', 'voip'] });

    const guest = { oid: randomUUID(), roles: ['guest'] };
    expect(await service.introspect((await token(guest)).token)).toMatchObject({
      scopes: ['chat.join.limited'],
    });
    await expectProblem(await call(guest, 'POST', 'token', { scopes: ['voip'] }), 403, 'forbidden');

    const customRoleType = { oid: randomUUID(), roles: ['guest'], roleType: 'app_roles' };
    expect(await service.introspect((await token(customRoleType)).token)).toMatchObject({
      scopes: ['chat.join.limited'],
    });
  });

  it('admin routes follow the roles claims: the admin erases a user, anyone else gets 403', async () => {
    const admin = { oid: randomUUID(), roles: [ADMIN_ROLE] };
    const member = { oid: randomUUID(), roles: ['member'] };
    const victim = { oid: randomUUID(), roles: ['member'] };
    const issued = await token(victim);

    await expectProblem(await call(member, 'DELETE', `admin/users/${victim.oid}`), 403, 'forbidden');
    await expectProblem(await call(null, 'DELETE', `admin/users/${victim.oid}`), 401, 'unauthenticated');
    expect((await call(admin, 'DELETE', `admin/users/${victim.oid}`)).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(issued.user.communicationUserId);
    expect(await service.introspect(issued.token)).toMatchObject({ active: false });
  });

  it('self-service works for the principal, and the Teams exchange uses its object id', async () => {
    const user = { oid: randomUUID(), roles: ['member'] };
    const issued = await token(user);
    expect(await (await call(user, 'GET', 'identity')).json()).toEqual({
      communicationUserId: issued.user.communicationUserId,
    });
    expect((await call(user, 'POST', 'identity/revoke')).status).toBe(204);
    expect(await service.introspect(issued.token)).toMatchObject({ active: false });

    const teams = await fetch(new URL('emulator/teams-users', service.emulator.endpoint), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ appId: TEAMS_CLIENT_ID, userId: user.oid, tenantId: TENANT }),
    });
    const { token: teamsUserAadToken } = (await teams.json()) as { token: string };
    const exchanged = await call(user, 'POST', 'token/teams', { teamsUserAadToken });
    expect(exchanged.status).toBe(200);
    const { token: teamsToken } = (await exchanged.json()) as { token: string };
    expect(await service.introspect(teamsToken)).toMatchObject({
      active: true,
      communicationUserId: `8:orgid:${user.oid}`,
    });
  });
});

// Security round 3, point 5: one Entra user seen with the v1 issuer, the v2 issuer and no `iss` got three identities
// and three rate-limit buckets.
describe('AUTH_MODE=easyauth: one Entra user whatever issuer form the principal carries', () => {
  const LIMIT = 3;
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({
      env: {
        AUTH_MODE: 'easyauth',
        WEBSITE_AUTH_ENABLED: 'true',
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
      },
    });
  });
  afterAll(() => service.close());

  const requestToken = (user: EntraUser) =>
    fetch(service.api('token'), { method: 'POST', headers: appServiceHeaders(user) });

  it('gives one identity and one rate-limit bucket', async () => {
    const oid = randomUUID();
    const identities = new Set<string>();
    for (const issuer of ['v1', 'v2', 'none'] as const) {
      const response = await requestToken({ oid, issuer });
      expect(response.status, issuer).toBe(200);
      identities.add(((await response.json()) as TokenBody).user.communicationUserId);
    }
    expect(identities.size).toBe(1);
    expect((await service.emulatorStats()).operations.createIdentity).toBe(1);
    await expectProblem(await requestToken({ oid, issuer: 'v1' }), 429, 'too-many-requests');
  });
});
