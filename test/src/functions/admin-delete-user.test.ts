import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { hashUser } from '../../../src/log.js';
import { type RunningService, startService } from '../../support/service.js';
import { auditLines, callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

const ADMIN_ROLE = 'Identity.Admin';
const asAdmin = { claims: { roles: [ADMIN_ROLE] } };

describe('DELETE /api/admin/users/{userId}', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE } });
  });
  afterAll(() => service.close());

  it('erases the user: identity gone from ACS, mapping gone, old token dead; then 404 on repeat', async () => {
    const target = await tokenAs(service, 'leaver');
    const bystander = await tokenAs(service, 'stayer');
    const userId = devUserIds('leaver').oid;

    expect((await callAs(service, 'root', 'DELETE', `admin/users/${userId}`, asAdmin)).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(target.user.communicationUserId);
    expect((await service.mappings()).map((mapping) => mapping.userId)).not.toContain(userId);
    expect(await service.introspect(target.token)).toMatchObject({ active: false });
    expect(await service.introspect(bystander.token)).toMatchObject({ active: true });

    await expectProblem(
      await callAs(service, 'root', 'DELETE', `admin/users/${userId}`, asAdmin),
      404,
      'not-found',
    );

    const subject = hashUser({ issuer: service.issuer.issuer, userId });
    expect(
      auditLines(service)
        .filter((line) => line.subject === subject)
        .map((line) => [line.action, line.actorKind, line.outcome]),
    ).toEqual([
      ['identity.delete', 'admin', 'deleted'],
      ['identity.delete', 'admin', 'absent'],
    ]);
  });

  it('accepts a percent-encoded user id (ids from other issuers may hold any character)', async () => {
    const userId = 'auth0|user/42 ü';
    const token = await service.issuer.mint({ sub: userId, oid: userId, name: 'odd' });
    const issued = await service.call('token', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    const { user } = (await issued.json()) as { user: { communicationUserId: string } };
    const response = await callAs(
      service,
      'root',
      'DELETE',
      `admin/users/${encodeURIComponent(userId)}`,
      asAdmin,
    );
    expect(response.status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(user.communicationUserId);
  });
});

describe('POST /api/admin/delete-user (the user id in the body)', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_ADMIN_ROLE: ADMIN_ROLE } });
  });
  afterAll(() => service.close());

  it('erases users a path cannot name (dot segments, a lone surrogate, 1,024 characters), then 404 on repeat', async () => {
    for (const userId of ['.', '..', '\uD83D', `${'y'.repeat(1023)}\uD800`]) {
      const target = await tokenAs(service, 'odd-id', { oid: userId });
      const erase = () =>
        callAs(service, 'root', 'POST', 'admin/delete-user', { ...asAdmin, body: { userId } });
      expect((await erase()).status, userId.slice(0, 12)).toBe(204);
      expect(await service.emulatorIdentities()).not.toContain(target.user.communicationUserId);
      expect((await service.mappings()).map((mapping) => mapping.userId)).not.toContain(userId);
      await expectProblem(await erase(), 404, 'not-found');
    }
  });

  it('answers exactly as an unknown route does under another first segment', async () => {
    await expectProblem(
      await callAs(service, 'root', 'POST', 'identity/delete-user', { ...asAdmin, body: { userId: 'x' } }),
      404,
      'not-found',
    );
  });
});
