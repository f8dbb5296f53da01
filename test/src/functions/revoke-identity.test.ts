import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { hashUser } from '../../../src/log.js';
import { type RunningService, startService } from '../../support/service.js';
import { auditLines, callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

describe('POST /api/identity/revoke', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: LIFECYCLE_TEST_ENV });
  });
  afterAll(() => service.close());

  it('revokes every token issued so far, keeps the identity, and records the revocation', async () => {
    const first = await tokenAs(service, 'carol');
    const second = await tokenAs(service, 'carol');
    const response = await callAs(service, 'carol', 'POST', 'identity/revoke');
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');

    for (const old of [first, second]) {
      expect(await service.introspect(old.token)).toMatchObject({ active: false, inactiveReason: 'revoked' });
    }
    const fresh = await tokenAs(service, 'carol');
    expect(fresh.user.communicationUserId).toBe(first.user.communicationUserId);
    expect(await service.introspect(fresh.token)).toMatchObject({ active: true });

    const [mapping] = (await service.mappings()).filter(
      (entry) => entry.communicationUserId === first.user.communicationUserId,
    );
    expect(mapping).toMatchObject({ revocation: 1 });
    expect(mapping?.revoking).toBeUndefined();
  });

  it('answers 404 for a caller with no identity, without calling ACS', async () => {
    const before = await service.emulatorStats();
    await expectProblem(await callAs(service, 'nobody-yet', 'POST', 'identity/revoke'), 404, 'not-found');
    expect((await service.emulatorStats()).operations.revokeTokens).toBe(before.operations.revokeTokens);
  });

  it('writes one audit line per revoke with hashed ids and no token', async () => {
    const { token } = await tokenAs(service, 'dave');
    const authorization = await service.tokenFor('dave');
    await service.call('identity/revoke', {
      method: 'POST',
      headers: { Authorization: `Bearer ${authorization}` },
    });
    const dave = { issuer: service.issuer.issuer, userId: devUserIds('dave').oid };
    const lines = auditLines(service).filter((line) => line.subject === hashUser(dave));
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'audit',
        action: 'identity.revoke',
        actorKind: 'self',
        actor: hashUser(dave),
        subject: hashUser(dave),
        outcome: 'revoked',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        invocationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      }),
    ]);
    const everything = service.logs.map(({ line }) => line).join('\n');
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(authorization);
    expect(everything).not.toContain(dave.userId);
  });

  it('answers 503 with Retry-After when ACS is unavailable, and a retry then succeeds', async () => {
    const { token } = await tokenAs(service, 'erin');
    service.emulator.setFaults({ failRate: 1, failStatus: 503 });
    try {
      const failed = await callAs(service, 'erin', 'POST', 'identity/revoke');
      await expectProblem(failed, 503, 'unavailable');
      expect(failed.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
    expect(await service.introspect(token)).toMatchObject({ active: true });
    expect((await callAs(service, 'erin', 'POST', 'identity/revoke')).status).toBe(204);
    expect(await service.introspect(token)).toMatchObject({ active: false });
  });
});
