import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import { startLocalHost } from '../../dev/local-host.js';
import { loadSettings, SettingsError } from '../../src/settings.js';
import {
  ADMIN_ROLE,
  authorization,
  Ledger,
  problemViolations,
  type RawResponse,
  rawRequest,
  routeEndpoints,
  type SecureService,
  startSecureService,
  uniqueUser,
} from './harness.js';

const ledger = new Ledger('authorization');
let service: SecureService;

beforeAll(async () => {
  service = await startSecureService(ledger, { store: 'table' });
});

afterAll(async () => {
  await service?.close();
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
  expect(figures.unexpected5xx).toBe(0);
});

interface Member {
  name: string;
  oid: string;
  callerToken: string;
  communicationUserId: string;
  acsToken: string;
}

async function member(prefix: string, target = service): Promise<Member> {
  const name = uniqueUser(prefix);
  const callerToken = await target.callerToken(name);
  const response = await target.send({
    method: 'POST',
    path: '/api/token',
    headers: authorization(callerToken),
  });
  expect(response.status).toBe(200);
  const body = response.json() as { user: { communicationUserId: string }; token: string };
  return {
    name,
    oid: devUserIds(name).oid,
    callerToken,
    communicationUserId: body.user.communicationUserId,
    acsToken: body.token,
  };
}

/** Everything that says B is intact: its mapping, its identity in ACS, its token still active. */
async function expectIntact(target: SecureService, b: Member) {
  const mapping = (await target.mappings()).find((entry) => entry.userId === b.oid);
  expect(mapping?.communicationUserId).toBe(b.communicationUserId);
  expect(mapping?.revocation ?? 0).toBe(0);
  expect(await target.emulatorIdentities()).toContain(b.communicationUserId);
  expect((await target.introspect(b.acsToken)).active).toBe(true);
}

/** B's identifiers planted wherever a careless service might look for "which user": query, body and headers. */
function plantedBy(b: Member) {
  const principal = Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      claims: [
        { typ: 'oid', val: b.oid },
        { typ: 'iss', val: service.issuer.issuer },
      ],
    }),
  ).toString('base64');
  return {
    query: `?userId=${b.oid}&communicationUserId=${encodeURIComponent(b.communicationUserId)}&user=${b.name}&oid=${b.oid}`,
    headers: {
      'X-MS-CLIENT-PRINCIPAL': principal,
      'X-MS-CLIENT-PRINCIPAL-ID': b.oid,
      'X-MS-CLIENT-PRINCIPAL-NAME': b.name,
      'X-Forwarded-User': b.oid,
      'X-User-Id': b.oid,
    },
    body: JSON.stringify({
      userId: b.oid,
      communicationUserId: b.communicationUserId,
      user: { communicationUserId: b.communicationUserId },
    }),
  };
}

/** A service behind App Service Authentication (AUTH_MODE=easyauth); the caller must close it. */
const startEasyAuthService = () =>
  startSecureService(ledger, {
    env: {
      AUTH_MODE: 'easyauth',
      WEBSITE_AUTH_ENABLED: 'True',
      AUTH_ISSUER: undefined,
      AUTH_AUDIENCE: undefined,
    },
  });

/** The principal header Easy Auth sends for a user `oid` with `roles`. */
const easyAuthPrincipal = (oid: string, roles: string[] = []) => ({
  'x-ms-client-principal': Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      claims: [
        { typ: 'iss', val: 'https://login.example/tenant' },
        { typ: 'oid', val: oid },
        ...roles.map((val) => ({ typ: 'roles', val })),
      ],
    }),
  ).toString('base64'),
});

/** The self-service endpoints: every endpoint of the table that needs a caller and is not an admin route. */
const selfService = () =>
  routeEndpoints().filter(({ path }) => path !== '/api/health' && !path.startsWith('/api/admin/'));
/** Every admin route as a request about `userId`: in the path, or in the JSON body for the body forms. */
const adminEndpoints = (userId: string) =>
  routeEndpoints({ userId: encodeURIComponent(userId) })
    .filter(({ path }) => path.startsWith('/api/admin/'))
    .map(({ route, method, path }) => {
      const type: Record<string, string> = route.docs?.body ? { 'Content-Type': 'application/json' } : {};
      return { method, path, type, ...(route.docs?.body ? { body: JSON.stringify({ userId }) } : {}) };
    });

describe('user A against user B', () => {
  it('A never reads, revokes, deletes or gets a token for B, whatever A plants in query, body or headers', async () => {
    const a = await member('alice');
    const b = await member('bob');
    const planted = plantedBy(b);
    const endpoints = selfService();
    expect(endpoints.map(({ method, path }) => `${method} ${path}`)).toEqual(
      expect.arrayContaining([
        'GET /api/identity',
        'DELETE /api/identity',
        'POST /api/identity/revoke',
        'POST /api/token',
        'GET /api/token',
      ]),
    );

    for (const { method, path } of endpoints) {
      for (const variant of ['query', 'headers', 'body'] as const) {
        const response = await service.send({
          method,
          path: `${path}${variant === 'query' ? planted.query : ''}`,
          headers: {
            ...authorization(a.callerToken),
            ...(variant === 'headers' ? planted.headers : {}),
            ...(variant === 'body' ? { 'Content-Type': 'application/json' } : {}),
          },
          ...(variant === 'body' && method !== 'GET' ? { body: planted.body } : {}),
        });
        const label = `${method} ${path} with B planted in the ${variant}`;
        expect(response.status, label).toBeLessThan(500);
        // Whatever A gets back never names B's identity nor carries a token of it.
        expect(response.text, label).not.toContain(b.communicationUserId);
        const token = (response.json() as { token?: string } | undefined)?.token;
        if (token)
          expect((await service.introspect(token)).communicationUserId, label).not.toBe(
            b.communicationUserId,
          );
        await expectIntact(service, b);
      }
    }
    // A did act on itself, and only on itself: its last self-delete removed A's identity, not B's.
    expect(await service.emulatorIdentities()).not.toContain(a.communicationUserId);
  });

  it("A's revoke stops A's tokens only, and A's next token is a fresh, active one", async () => {
    const a = await member('revoker');
    const b = await member('bystander');
    const revoked = await service.send({
      method: 'POST',
      path: '/api/identity/revoke',
      headers: authorization(a.callerToken),
    });
    expect(revoked.status).toBe(204);
    expect((await service.introspect(a.acsToken)).active).toBe(false);
    await expectIntact(service, b);

    // A kept (reused) token would be the revoked one: the next token must come from a new ACS issue call. (Its
    // bytes may equal the old token's: the emulator signs deterministically within one second.)
    const issuedBefore = (await service.emulatorStats()).operations.issueToken;
    const next = await service.send({
      method: 'POST',
      path: '/api/token',
      headers: authorization(a.callerToken),
    });
    expect(next.status).toBe(200);
    const body = next.json() as { token: string; user: { communicationUserId: string } };
    expect(body.user.communicationUserId).toBe(a.communicationUserId);
    expect((await service.emulatorStats()).operations.issueToken).toBe(issuedBefore + 1);
    expect((await service.introspect(body.token)).active).toBe(true);
  });

  it("A cannot exchange B's Teams token: the exchange is bound to A's own verified oid", async () => {
    const a = await member('teams-a');
    const b = await member('teams-b');
    const teams = await fetch(new URL('emulator/teams-users', service.emulator.endpoint), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ appId: service.env.TEAMS_CLIENT_ID, userId: b.oid }),
    });
    const teamsToken = ledger.capture.secret(
      'Teams token',
      ((await teams.json()) as { token: string }).token,
    );
    const response = await service.send({
      method: 'POST',
      path: '/api/token/teams',
      headers: { ...authorization(a.callerToken), 'Content-Type': 'application/json' },
      body: JSON.stringify({ teamsUserAadToken: teamsToken }),
    });
    ledger.acsVerdict(response);
    expect([400, 401, 403]).toContain(response.status);
    expect(problemViolations(response)).toEqual([]);
    expect(response.text).not.toContain(teamsToken);

    // The control: B, whose Teams token it is, gets its exchange.
    const own = await service.send({
      method: 'POST',
      path: '/api/token/teams',
      headers: { ...authorization(b.callerToken), 'Content-Type': 'application/json' },
      body: JSON.stringify({ teamsUserAadToken: teamsToken }),
    });
    expect(own.status).toBe(200);
  });
});

describe('administration', () => {
  /** Roles that must not pass for AUTH_ADMIN_ROLE=TokenAdmin, and where a careless check might find them. */
  const lookalikes: [string, Record<string, unknown>][] = [
    ['no roles', {}],
    ['another role', { roles: ['Reader', 'admin', 'Admin'] }],
    ['the role in another case', { roles: [ADMIN_ROLE.toLowerCase(), ADMIN_ROLE.toUpperCase()] }],
    ['the role with spaces', { roles: [` ${ADMIN_ROLE}`, `${ADMIN_ROLE} `] }],
    ['the role as a string, not a list', { roles: ADMIN_ROLE }],
    ['the role in scp', { scp: ADMIN_ROLE }],
    ['the role in a singular "role" claim', { role: ADMIN_ROLE }],
    ['the role in groups', { groups: [ADMIN_ROLE] }],
    ['a role containing it', { roles: [`${ADMIN_ROLE}s`, `x${ADMIN_ROLE}`] }],
  ];

  it.each(lookalikes)(
    'a caller with %s gets 403 on every admin route, with no ACS call and B untouched',
    async (_, claims) => {
      const b = await member('target');
      const caller = await service.callerToken(uniqueUser('not-admin'), claims as Record<string, string>);
      const endpoints = adminEndpoints(b.oid);
      expect(endpoints.length).toBeGreaterThanOrEqual(2);
      const activity = await service.acsActivity();
      for (const { method, path, body, type } of endpoints) {
        const response = await service.send({
          method,
          path,
          body,
          headers: { ...type, ...authorization(caller) },
        });
        expect(response.status, `${method} ${path}`).toBe(403);
        expect(problemViolations(response)).toEqual([]);
      }
      expect(await service.acsActivity()).toBe(activity);
      await expectIntact(service, b);
    },
  );

  it('path tricks reach the same admin check (403), never around it', async () => {
    const b = await member('tricked');
    const caller = await service.callerToken(uniqueUser('tricker'));
    const activity = await service.acsActivity();
    for (const path of [
      `/api/identity/../admin/users/${b.oid}/revoke`,
      `/api/ADMIN/users/${b.oid}/revoke`,
      `/api/%61dmin/users/${b.oid}/revoke`,
      `/api/admin/users/${b.oid}/revoke/`,
      `/api/admin//users/${b.oid}/revoke`,
      `/api/./admin/users/${b.oid}/revoke`,
    ]) {
      const response = await service.send({ method: 'POST', path, headers: authorization(caller) });
      expect([403, 404], path).toContain(response.status);
      expect(problemViolations(response)).toEqual([]);
    }
    expect(await service.acsActivity()).toBe(activity);
    await expectIntact(service, b);
  });

  it('the control: a holder of AUTH_ADMIN_ROLE revokes and deletes B, by path and by body', async () => {
    const admin = await service.callerToken(uniqueUser('admin'), { roles: ['Reader', ADMIN_ROLE] });
    for (const inBody of [false, true]) {
      const b = await member('erased');
      const endpoints = adminEndpoints(b.oid).filter(({ body }) => (body !== undefined) === inBody);
      const send = ({ type, ...request }: (typeof endpoints)[number]) =>
        service.send({ ...request, headers: { ...type, ...authorization(admin) } });
      const revoke = endpoints.find(({ path }) => path.includes('revoke'))!;
      const remove = endpoints.find(({ path }) => !path.includes('revoke'))!;
      expect((await send(revoke)).status).toBe(204);
      expect((await service.introspect(b.acsToken)).active).toBe(false);
      expect((await send(remove)).status).toBe(204);
      expect(await service.emulatorIdentities()).not.toContain(b.communicationUserId);
    }
  });

  it('with AUTH_ADMIN_ROLE unset, admin routes do not exist for anyone, not even a caller with an admin-like role', async () => {
    const off = await startSecureService(ledger, { env: { AUTH_ADMIN_ROLE: undefined } });
    try {
      const b = await member('unadministered', off);
      const activity = await off.acsActivity();
      for (const roles of [[ADMIN_ROLE], ['admin'], ['Admin', 'Administrator']]) {
        const caller = await off.callerToken(uniqueUser('would-be-admin'), { roles });
        for (const { method, path, body, type } of adminEndpoints(b.oid)) {
          const response = await off.send({
            method,
            path,
            body,
            headers: { ...type, ...authorization(caller) },
          });
          expect([403, 404], `${method} ${path}`).toContain(response.status);
          expect(problemViolations(response)).toEqual([]);
        }
      }
      expect(await off.acsActivity()).toBe(activity);
      await expectIntact(off, b);
    } finally {
      await off.close();
    }
  });
});

describe('scope escalation', () => {
  it('asking for scopes beyond TOKEN_ALLOWED_SCOPES or the caller roles is 403, with no ACS call, new or known user', async () => {
    const scoped = await startSecureService(ledger, {
      env: {
        TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join.limited',
        TOKEN_SCOPES_BY_ROLE: JSON.stringify({ guest: ['chat.join.limited'], member: ['chat', 'voip'] }),
      },
    });
    try {
      const guest = await scoped.callerToken(uniqueUser('guest'), { roles: ['guest'] });
      const knownGuest = await scoped.callerToken(uniqueUser('known-guest'), { roles: ['guest'] });
      const memberToken = await scoped.callerToken(uniqueUser('member'), { roles: ['member'] });
      const asked = (token: string, scopes: string[]) => ({
        method: 'POST',
        path: '/api/token',
        headers: { ...authorization(token), 'Content-Type': 'application/json' },
        body: JSON.stringify({ scopes }),
      });
      expect((await scoped.send(asked(knownGuest, ['chat.join.limited']))).status).toBe(200);

      const activity = await scoped.acsActivity();
      const escalations: [string, string[]][] = [
        [guest, ['chat']],
        [guest, ['chat.join.limited', 'voip']],
        [knownGuest, ['chat']],
        [knownGuest, ['voip.join']],
        [memberToken, ['chat.join']],
        [memberToken, ['chat', 'voip.join']],
        [memberToken, ['chat.join.limited']],
      ];
      for (const [token, scopes] of escalations) {
        for (const request of [
          asked(token, scopes),
          { method: 'GET', path: `/api/token?scopes=${scopes.join(',')}`, headers: authorization(token) },
        ]) {
          const response = await scoped.send(request);
          expect(response.status, `${request.method} ${scopes.join(',')}`).toBe(403);
          expect(problemViolations(response)).toEqual([]);
        }
      }
      expect(await scoped.acsActivity()).toBe(activity);

      // The controls: each gets what its role allows.
      expect((await scoped.send(asked(memberToken, ['chat', 'voip']))).status).toBe(200);
      const guestToken = (await scoped.send(asked(guest, ['chat.join.limited']))).json() as { token: string };
      expect((await scoped.introspect(guestToken.token)).scopes).toEqual(['chat.join.limited']);
    } finally {
      await scoped.close();
    }
  });

  it('AUTH_REQUIRED_SCOPE: a token without it is 403 with no ACS call; substrings and look-alikes do not count', async () => {
    const required = await startSecureService(ledger, { env: { AUTH_REQUIRED_SCOPE: 'Tokens.Issue' } });
    try {
      const activity = await required.acsActivity();
      for (const claims of [
        {},
        { scp: 'Tokens.Issue.All' },
        { scp: 'tokens.issue' },
        { scp: 'Tokens' },
        { roles: ['Tokens.Issue.Admin'] },
      ]) {
        const token = await required.callerToken(uniqueUser('unscoped'), claims);
        const response = await required.send({
          method: 'POST',
          path: '/api/token',
          headers: authorization(token),
        });
        expect(response.status, JSON.stringify(claims)).toBe(403);
        expect(String(response.headers['www-authenticate'])).toContain('insufficient_scope');
      }
      expect(await required.acsActivity()).toBe(activity);
      const scoped = await required.callerToken(uniqueUser('scoped'), { scp: 'User.Read Tokens.Issue' });
      expect(
        (await required.send({ method: 'POST', path: '/api/token', headers: authorization(scoped) })).status,
      ).toBe(200);
    } finally {
      await required.close();
    }
  });
});

describe('AUTH_MODE=anonymous only when chosen explicitly', () => {
  const acsOnly = () => ({
    COMMUNICATION_SERVICES_CONNECTION_STRING: service.emulator.connectionString,
    IDENTITY_STORE: 'memory',
  });

  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['capitalised', 'Anonymous'],
    ['padded', ' anonymous '],
    ['abbreviated', 'anon'],
    ['none', 'none'],
    ['true', 'true'],
  ])(
    'AUTH_MODE %s: settings refuse to start without an issuer, and no caller gets a token',
    async (_, mode) => {
      const env = { ...acsOnly(), AUTH_MODE: mode };
      expect(() => loadSettings(env)).toThrow(SettingsError);
      const host = await startLocalHost({ env, log: ledger.capture.hostLog });
      try {
        const activity = await service.acsActivity();
        for (const path of ['/api/token', '/api/identity']) {
          const response: RawResponse = await rawRequest(host.url, {
            method: path === '/api/token' ? 'POST' : 'GET',
            path,
          });
          // The one answer of a service that refuses to run: the misconfigured problem, for operators and probes.
          expect(response.status).toBe(503);
          expect(problemViolations(response)).toEqual([]);
          expect((response.json() as { type: string }).type).toMatch(/misconfigured$/);
          expect(response.text).not.toContain('"token"');
        }
        expect(await service.acsActivity()).toBe(activity);
      } finally {
        await host.close();
      }
    },
  );

  it('AUTH_MODE=easyauth without App Service Authentication on refuses to start, so forged principal headers get nothing', async () => {
    const env = { ...acsOnly(), AUTH_MODE: 'easyauth', WEBSITE_AUTH_ENABLED: 'false' };
    expect(() => loadSettings(env)).toThrow(SettingsError);
    const host = await startLocalHost({ env, log: ledger.capture.hostLog });
    try {
      const forged = Buffer.from(
        JSON.stringify({
          auth_typ: 'aad',
          claims: [
            { typ: 'oid', val: 'forged-user' },
            { typ: 'roles', val: ADMIN_ROLE },
          ],
        }),
      ).toString('base64');
      const response = await rawRequest(host.url, {
        method: 'POST',
        path: '/api/token',
        headers: { 'X-MS-CLIENT-PRINCIPAL': forged, 'X-MS-CLIENT-PRINCIPAL-IDP': 'aad' },
      });
      expect(response.status).toBe(503);
      expect(response.text).not.toContain('"token"');
    } finally {
      await host.close();
    }
  });

  it('explicit AUTH_MODE=anonymous works as the tutorial, logs a warning at start-up, and keeps no durable identity', async () => {
    const captured: string[] = [];
    const host = await startLocalHost({
      env: { ...acsOnly(), AUTH_MODE: 'anonymous' },
      log: (level, line) => {
        captured.push(`${level} ${line}`);
        ledger.capture.hostLog(level, line);
      },
    });
    try {
      expect(captured.some((line) => line.startsWith('warning') && line.includes('anonymous'))).toBe(true);
      const first = await rawRequest(host.url, { method: 'POST', path: '/api/token' });
      const second = await rawRequest(host.url, { method: 'POST', path: '/api/token' });
      for (const response of [first, second]) {
        expect(response.status).toBe(200);
        ledger.capture.secret('ACS token', (response.json() as { token: string }).token);
      }
      const ids = [first, second].map(
        (response) => (response.json() as { user: { communicationUserId: string } }).user.communicationUserId,
      );
      expect(ids[0]).not.toBe(ids[1]);
      for (const [method, path] of [
        ['GET', '/api/identity'],
        ['POST', '/api/identity/revoke'],
        ['DELETE', '/api/identity'],
      ] as const) {
        expect((await rawRequest(host.url, { method, path })).status, `${method} ${path}`).toBe(403);
      }
    } finally {
      await host.close();
    }
  });
});

describe('every user the token path serves can be revoked and erased by an admin', () => {
  /** A token request as the user whose user claim (oid) is exactly `oid`. */
  async function asUserWithId(target: SecureService, oid: string) {
    const caller = await target.callerToken(uniqueUser('odd-id'), { oid });
    return target.send({ method: 'POST', path: '/api/token', headers: authorization(caller) });
  }

  const adminCall = async (path: string, userId: string) =>
    service.send({
      method: 'POST',
      path,
      headers: {
        ...authorization(await service.callerToken(uniqueUser('root'), { roles: [ADMIN_ROLE] })),
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ userId }),
    });

  it('ids a path cannot carry (dot segments, lone surrogates, 1,024 characters) are revoked and erased with the body routes', async () => {
    for (const oid of ['.', '..', 'lone\uD800', '\uDFFF', `${'z'.repeat(1023)}\uD801`]) {
      const label = JSON.stringify(oid.slice(0, 12));
      const served = await asUserWithId(service, oid);
      expect(served.status, label).toBe(200);
      const { token, user } = served.json() as { token: string; user: { communicationUserId: string } };

      expect((await adminCall('/api/admin/revoke-user', oid)).status, label).toBe(204);
      expect((await service.introspect(token)).active, label).toBe(false);

      expect((await adminCall('/api/admin/delete-user', oid)).status, label).toBe(204);
      expect(await service.emulatorIdentities(), label).not.toContain(user.communicationUserId);
      expect(
        (await service.mappings()).some((mapping) => mapping.userId === oid),
        label,
      ).toBe(false);
      expect((await adminCall('/api/admin/delete-user', oid)).status, label).toBe(404);
    }
  });

  it('a blank user claim, or one over 1,024 characters, is refused as a caller (401) before any ACS call', async () => {
    const activity = await service.acsActivity();
    for (const oid of [' ', '\t\n', '\u00a0\u3000', 'x'.repeat(1025)]) {
      const refused = await asUserWithId(service, oid);
      expect(refused.status, JSON.stringify(oid.slice(0, 8))).toBe(401);
      expect(problemViolations(refused)).toEqual([]);
    }
    expect(await service.acsActivity()).toBe(activity);
    const reasons = ledger.capture
      .allLines()
      .map(({ line }) => /"reason":"(user_claim_[a-z_]+)"/.exec(line)?.[1])
      .filter(Boolean);
    expect(reasons).toEqual(expect.arrayContaining(['user_claim_blank', 'user_claim_too_long']));
  });

  it('the same holds in AUTH_MODE=easyauth', async () => {
    const easy = await startEasyAuthService();
    try {
      const principal = easyAuthPrincipal;
      const activity = await easy.acsActivity();
      for (const oid of [' ', '\u2003', 'x'.repeat(1025)]) {
        const refused = await easy.send({ method: 'POST', path: '/api/token', headers: principal(oid) });
        expect(refused.status).toBe(401);
      }
      expect(await easy.acsActivity()).toBe(activity);

      const served = await easy.send({ method: 'POST', path: '/api/token', headers: principal('..') });
      expect(served.status).toBe(200);
      const erased = await easy.send({
        method: 'POST',
        path: '/api/admin/delete-user',
        headers: { ...principal('root', [ADMIN_ROLE]), 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: '..' }),
      });
      expect(erased.status).toBe(204);
    } finally {
      await easy.close();
    }
  });
});

describe('Easy Auth: cross-site request forgery (issue 19, point 4)', () => {
  it('refuses every state-changing request a browser sends cross-site without a preflight, and serves the same-origin ones', async () => {
    const easy = await startEasyAuthService();
    try {
      // The principal header stands for the session cookie: the browser attaches it to whatever a page sends.
      const principal = easyAuthPrincipal;
      const victim = uniqueUser('victim');
      expect(
        (await easy.send({ method: 'POST', path: '/api/token', headers: principal(victim) })).status,
      ).toBe(200);
      const admin = principal(uniqueUser('admin'), [ADMIN_ROLE]);
      const self = principal(victim);
      const ownOrigin = new URL(easy.url).origin;

      // What a page elsewhere can make a browser send: a form post, a text/plain or multipart fetch in no-cors
      // mode, a body-less no-cors POST; the browser adds Origin and Sec-Fetch-Site (older ones only Origin).
      const browserForms: { headers: Record<string, string>; body?: string }[] = [
        {
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            Origin: 'https://evil.example',
            'Sec-Fetch-Site': 'cross-site',
          },
          body: `userId=${victim}`,
        },
        {
          headers: {
            'Content-Type': 'text/plain;charset=UTF-8',
            Origin: 'https://evil.example',
            'Sec-Fetch-Site': 'cross-site',
          },
          body: JSON.stringify({ userId: victim }),
        },
        {
          headers: { 'Content-Type': 'multipart/form-data; boundary=x', Origin: 'https://evil.example' },
          body: '--x--',
        },
        {
          headers: { 'Content-Type': 'Text/Plain', Origin: ownOrigin },
          body: JSON.stringify({ userId: victim }),
        },
        { headers: { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' } },
        { headers: { Origin: 'null' } },
        { headers: { 'Sec-Fetch-Site': 'cross-site' } },
        {
          headers: { 'Content-Type': 'application/json', Origin: `${ownOrigin}.evil.example` },
          body: JSON.stringify({ userId: victim }),
        },
      ];
      const targets = [
        { method: 'POST', path: '/api/identity/revoke', as: self },
        { method: 'DELETE', path: '/api/identity', as: self },
        ...adminEndpoints(victim).map(({ method, path }) => ({ method, path, as: admin })),
      ];
      const activity = await easy.acsActivity();
      let refused = 0;
      for (const target of targets) {
        for (const form of browserForms) {
          const response = await easy.send({
            method: target.method,
            path: target.path,
            headers: { ...target.as, ...form.headers },
            ...(form.body ? { body: form.body } : {}),
          });
          expect([403, 415], `${target.method} ${target.path} ${JSON.stringify(form.headers)}`).toContain(
            response.status,
          );
          expect(problemViolations(response, target.method)).toEqual([]);
          refused++;
        }
      }
      // Nothing reached ACS: no revoke, no erase, no identity created.
      expect(await easy.acsActivity()).toBe(activity);
      ledger.measure(
        `Easy Auth cross-site state-changing requests refused (403/415) of ${targets.length * browserForms.length} sent`,
        refused,
      );

      // The service's own pages (same origin, JSON) and callers that are not browsers still work.
      const sameOrigin = await easy.send({
        method: 'POST',
        path: '/api/identity/revoke',
        headers: { ...self, Origin: ownOrigin, 'Sec-Fetch-Site': 'same-origin' },
      });
      expect(sameOrigin.status).toBe(204);
      const adminJson = await easy.send({
        method: 'POST',
        path: '/api/admin/revoke-user',
        headers: { ...admin, 'Content-Type': 'application/json', Origin: ownOrigin },
        body: JSON.stringify({ userId: victim }),
      });
      expect(adminJson.status).toBe(204);
      expect((await easy.send({ method: 'POST', path: '/api/identity/revoke', headers: self })).status).toBe(
        204,
      );
      // Reading stays open to any origin: a GET changes nothing.
      expect(
        (
          await easy.send({
            method: 'GET',
            path: '/api/identity',
            headers: { ...self, Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
          })
        ).status,
      ).toBe(200);
    } finally {
      await easy.close();
    }
  });
});
