import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { hashUser } from '../../../src/log.js';
import { type RunningService, startService } from '../../support/service.js';
import { auditLines, callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

const ADMIN_ROLE = 'Identity.Admin';
const asAdmin = { claims: { roles: [ADMIN_ROLE] } };

describe('POST /api/admin/users/{userId}/revoke', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE } });
  });
  afterAll(() => service.close());

  it("revokes the user's tokens, leaves its identity and other users alone, and audits who did it", async () => {
    const target = await tokenAs(service, 'lost-phone');
    const bystander = await tokenAs(service, 'bystander');
    const userId = devUserIds('lost-phone').oid;

    const response = await callAs(service, 'root', 'POST', `admin/users/${userId}/revoke`, asAdmin);
    expect(response.status).toBe(204);

    expect(await service.introspect(target.token)).toMatchObject({
      active: false,
      inactiveReason: 'revoked',
    });
    expect(await service.introspect(bystander.token)).toMatchObject({ active: true });
    const again = await tokenAs(service, 'lost-phone');
    expect(again.user.communicationUserId).toBe(target.user.communicationUserId);
    expect(await service.introspect(again.token)).toMatchObject({ active: true });

    const issuer = service.issuer.issuer;
    expect(auditLines(service)).toContainEqual(
      expect.objectContaining({
        action: 'identity.revoke',
        actorKind: 'admin',
        actor: hashUser({ issuer, userId: devUserIds('root').oid }),
        subject: hashUser({ issuer, userId }),
        outcome: 'revoked',
      }),
    );
  });

  it('answers 404 for a user with no identity, and audits it', async () => {
    const userId = devUserIds('ghost').oid;
    const body = await expectProblem(
      await callAs(service, 'root', 'POST', `admin/users/${userId}/revoke`, asAdmin),
      404,
      'not-found',
    );
    expect(body.detail).toMatch(/No user with this id/);
    expect(auditLines(service)).toContainEqual(
      expect.objectContaining({
        outcome: 'not_found',
        subject: hashUser({ issuer: service.issuer.issuer, userId }),
      }),
    );
  });

  it('lets an admin revoke itself too', async () => {
    const own = await tokenAs(service, 'root', { roles: [ADMIN_ROLE] });
    const userId = devUserIds('root').oid;
    expect((await callAs(service, 'root', 'POST', `admin/users/${userId}/revoke`, asAdmin)).status).toBe(204);
    expect(await service.introspect(own.token)).toMatchObject({ active: false });
  });
});

describe('POST /api/admin/revoke-user (the user id in the body)', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE } });
  });
  afterAll(() => service.close());

  it('revokes users a path cannot name: dot segments, a lone surrogate, 1,024 characters; and audits it', async () => {
    for (const userId of ['.', '..', 'lone\uD800surrogate', `${'x'.repeat(1023)}\uDC00`]) {
      const target = await tokenAs(service, 'odd-id', { oid: userId });
      const response = await callAs(service, 'root', 'POST', 'admin/revoke-user', {
        ...asAdmin,
        body: { userId },
      });
      expect(response.status, userId.slice(0, 12)).toBe(204);
      expect(await service.introspect(target.token)).toMatchObject({ active: false });
      expect(auditLines(service)).toContainEqual(
        expect.objectContaining({
          action: 'identity.revoke',
          outcome: 'revoked',
          subject: hashUser({ issuer: service.issuer.issuer, userId }),
        }),
      );
    }
  });

  it('answers 404 for a user with no identity, 400 for a missing or malformed body', async () => {
    await expectProblem(
      await callAs(service, 'root', 'POST', 'admin/revoke-user', { ...asAdmin, body: { userId: 'nobody' } }),
      404,
      'not-found',
    );
    for (const body of [undefined, {}, { userId: '' }, { userId: 5 }, { userId: 'a', extra: 1 }]) {
      await expectProblem(
        await callAs(service, 'root', 'POST', 'admin/revoke-user', { ...asAdmin, body }),
        400,
        'invalid-request',
      );
    }
  });

  // Issue 21: an empty id was refused as "out of range".
  it('says an empty user id or issuer must not be empty', async () => {
    for (const [body, name] of [
      [{ userId: '' }, 'userId'],
      [{ userId: 'a', issuer: '' }, 'issuer'],
    ] as const) {
      const problem = await expectProblem(
        await callAs(service, 'root', 'POST', 'admin/revoke-user', { ...asAdmin, body }),
        400,
        'invalid-request',
      );
      expect(problem.errors).toEqual([{ name, reason: 'must not be empty' }]);
    }
  });

  it('refuses an issuer the service does not trust, naming the field', async () => {
    const problem = await expectProblem(
      await callAs(service, 'root', 'POST', 'admin/revoke-user', {
        ...asAdmin,
        body: { userId: 'someone', issuer: 'https://elsewhere.example/' },
      }),
      400,
      'invalid-request',
    );
    expect(problem.errors).toEqual([
      { name: 'issuer', reason: 'is not a configured issuer (see AUTH_ISSUERS)' },
    ]);
  });

  it('refuses a caller without the role (403, audited with the requested user) before reading further', async () => {
    const target = await tokenAs(service, 'kept');
    const userId = devUserIds('kept').oid;
    await expectProblem(
      await callAs(service, 'mallory', 'POST', 'admin/revoke-user', { body: { userId } }),
      403,
      'forbidden',
    );
    expect(await service.introspect(target.token)).toMatchObject({ active: true });
    expect(auditLines(service)).toContainEqual(
      expect.objectContaining({
        outcome: 'forbidden',
        actor: hashUser({ issuer: service.issuer.issuer, userId: devUserIds('mallory').oid }),
        subject: hashUser({ issuer: service.issuer.issuer, userId }),
      }),
    );
    // A non-admin's malformed body is still a 403: validation is for admins only.
    await expectProblem(
      await callAs(service, 'mallory', 'POST', 'admin/revoke-user', { body: { userId: 5 } }),
      403,
      'forbidden',
    );
  });
});
