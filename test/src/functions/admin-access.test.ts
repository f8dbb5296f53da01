import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { NO_SUCH_ROUTE } from '../../../src/functions/not-found.js';
import { hashUser } from '../../../src/log.js';
import { routes } from '../../../src/routes.js';
import { type RunningService, startService } from '../../support/service.js';
import { auditLines, callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

const ADMIN_ROLE = 'Identity.Admin';

describe('the admin routes as the Functions host registers them', () => {
  it('use no function name or route template starting with "admin", which the host reserves', () => {
    for (const { name, route } of routes) {
      expect(name.toLowerCase().startsWith('admin')).toBe(false);
      expect(route.toLowerCase().startsWith('admin')).toBe(false);
      expect(route.toLowerCase().startsWith('runtime')).toBe(false);
    }
  });
});

describe('admin routes without AUTH_ADMIN_ROLE', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: LIFECYCLE_TEST_ENV });
  });
  afterAll(() => service.close());

  it('answer exactly as an unknown route does, even to a caller holding an admin-looking role', async () => {
    const someone = devUserIds('someone').oid;
    for (const [method, path] of [
      ['POST', `admin/users/${someone}/revoke`],
      ['DELETE', `admin/users/${someone}`],
      ['POST', 'admin/revoke-user'],
      ['POST', 'admin/delete-user'],
    ] as const) {
      for (const user of [null, 'root']) {
        const body = await expectProblem(
          await callAs(service, user, method, path, { claims: { roles: [ADMIN_ROLE] } }),
          404,
          'not-found',
        );
        expect(body.detail).toBe(NO_SUCH_ROUTE);
      }
    }
    expect(auditLines(service)).toEqual([]);
  });
});

describe('admin routes with AUTH_ADMIN_ROLE', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE } });
  });
  afterAll(() => service.close());

  const asAdmin = { claims: { roles: [ADMIN_ROLE] } };

  it('answer only under the literal admin segment; other first segments are unknown routes', async () => {
    const body = await expectProblem(
      await callAs(service, 'root', 'DELETE', `administrator/users/${devUserIds('x').oid}`, asAdmin),
      404,
      'not-found',
    );
    expect(body.detail).toBe(NO_SUCH_ROUTE);
  });

  it('require a verified caller (401) who holds the role (403, audited)', async () => {
    const target = devUserIds('target').oid;
    await expectProblem(
      await callAs(service, null, 'POST', `admin/users/${target}/revoke`),
      401,
      'unauthenticated',
    );
    for (const claims of [{}, { roles: ['Reader', `${ADMIN_ROLE}x`] }, { scp: ADMIN_ROLE }]) {
      await expectProblem(
        await callAs(service, 'mallory', 'DELETE', `admin/users/${target}`, { claims }),
        403,
        'forbidden',
      );
    }
    const mallory = { issuer: service.issuer.issuer, userId: devUserIds('mallory').oid };
    const refusals = auditLines(service).filter((line) => line.actor === hashUser(mallory));
    expect(refusals).toHaveLength(3);
    for (const line of refusals) {
      expect(line).toMatchObject({
        action: 'identity.delete',
        actorKind: 'admin',
        outcome: 'forbidden',
        subject: hashUser({ issuer: service.issuer.issuer, userId: target }),
      });
    }
  });

  it('refuse an unusable user id with a 400 naming it', async () => {
    const body = await expectProblem(
      await callAs(service, 'root', 'DELETE', `admin/users/${'x'.repeat(1025)}`, asAdmin),
      400,
      'invalid-request',
    );
    expect(body.errors).toEqual([{ name: 'userId', reason: 'must be at most 1024 characters' }]);
  });

  it('audits admin requests refused with 400, from the path or the body (issue 19, point 8)', async () => {
    const root = { issuer: service.issuer.issuer, userId: devUserIds('auditor').oid };
    const longId = 'x'.repeat(1025);
    await expectProblem(
      await callAs(service, 'auditor', 'DELETE', `admin/users/${longId}`, asAdmin),
      400,
      'invalid-request',
    );
    await expectProblem(
      await callAs(service, 'auditor', 'POST', 'admin/revoke-user', { ...asAdmin, body: { userId: '' } }),
      400,
      'invalid-request',
    );
    const lines = auditLines(service).filter((line) => line.actor === hashUser(root));
    expect(lines).toEqual([
      expect.objectContaining({
        action: 'identity.delete',
        actorKind: 'admin',
        outcome: 'refused',
        reason: 'invalid_request',
        subject: hashUser({ issuer: root.issuer, userId: longId }),
      }),
      expect.objectContaining({ action: 'identity.revoke', outcome: 'refused', reason: 'invalid_request' }),
    ]);
  });

  it('refuses an admin token from another issuer before touching anyone', async () => {
    const victim = await tokenAs(service, 'victim');
    const otherIssuer = await service.issuer.mint(
      { ...devUserIds('root'), roles: [ADMIN_ROLE] },
      { issuer: 'https://elsewhere.example' },
    );
    const response = await service.call(`admin/users/${devUserIds('victim').oid}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${otherIssuer}` },
    });
    await expectProblem(response, 401, 'unauthenticated');
    expect(await service.emulatorIdentities()).toContain(victim.user.communicationUserId);
  });
});

describe('admin routes over the per-user limit', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({
      env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE, RATE_LIMIT_PER_MINUTE: '2' },
    });
  });
  afterAll(() => service.close());

  it('audits admin requests refused with 429, naming the subject as sent (issue 19, point 8)', async () => {
    const asAdmin = { claims: { roles: [ADMIN_ROLE] } };
    const admin = { issuer: service.issuer.issuer, userId: devUserIds('busy-admin').oid };
    const subject = devUserIds('someone-else').oid;
    const statuses = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const response =
        attempt % 2 === 0
          ? await callAs(service, 'busy-admin', 'POST', `admin/users/${subject}/revoke`, asAdmin)
          : await callAs(service, 'busy-admin', 'POST', 'admin/delete-user', {
              ...asAdmin,
              body: { userId: subject },
            });
      statuses.push(response.status);
    }
    expect(statuses.filter((status) => status === 429)).toHaveLength(2);
    const refused = auditLines(service).filter(
      (line) => line.actor === hashUser(admin) && line.outcome === 'refused',
    );
    expect(refused).toEqual([
      expect.objectContaining({
        action: 'identity.revoke',
        reason: 'rate_limited',
        subject: hashUser({ issuer: admin.issuer, userId: subject }),
      }),
      expect.objectContaining({
        action: 'identity.delete',
        reason: 'rate_limited',
        subject: hashUser({ issuer: admin.issuer, userId: subject }),
      }),
    ]);
  });
});
