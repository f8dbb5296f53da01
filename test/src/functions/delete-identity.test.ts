import { CommunicationIdentityClient } from '@azure/communication-identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../../dev/dev-issuer.js';
import { hashUser } from '../../../src/log.js';
import { type RunningService, startService } from '../../support/service.js';
import { auditLines, callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

describe('DELETE /api/identity', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: LIFECYCLE_TEST_ENV });
  });
  afterAll(() => service.close());

  const mappedIds = async () => (await service.mappings()).map((mapping) => mapping.communicationUserId);

  it('deletes the ACS identity, then the mapping; the next token belongs to a new identity', async () => {
    const old = await tokenAs(service, 'frank');
    const response = await callAs(service, 'frank', 'DELETE', 'identity');
    expect(response.status).toBe(204);

    expect(await service.emulatorIdentities()).not.toContain(old.user.communicationUserId);
    expect(await mappedIds()).not.toContain(old.user.communicationUserId);
    expect(await service.introspect(old.token)).toMatchObject({ active: false });
    await expectProblem(await callAs(service, 'frank', 'GET', 'identity'), 404, 'not-found');

    const renewed = await tokenAs(service, 'frank');
    expect(renewed.user.communicationUserId).not.toBe(old.user.communicationUserId);
    expect(await service.introspect(renewed.token)).toMatchObject({ active: true });
  });

  it('is harmless to repeat, and harmless for a caller who never had an identity', async () => {
    await tokenAs(service, 'gina');
    expect((await callAs(service, 'gina', 'DELETE', 'identity')).status).toBe(204);
    const before = await service.emulatorStats();
    expect((await callAs(service, 'gina', 'DELETE', 'identity')).status).toBe(204);
    expect((await callAs(service, 'never-seen', 'DELETE', 'identity')).status).toBe(204);
    expect((await service.emulatorStats()).operations.deleteIdentity).toBe(before.operations.deleteIdentity);

    const gina = { issuer: service.issuer.issuer, userId: devUserIds('gina').oid };
    expect(
      auditLines(service)
        .filter((line) => line.subject === hashUser(gina))
        .map((line) => line.outcome),
    ).toEqual(['deleted', 'absent']);
  });

  it('keeps the mapping when ACS fails, so nothing is half-done, and a retry completes', async () => {
    const { user, token } = await tokenAs(service, 'hank');
    service.emulator.setFaults({ failRate: 1, failStatus: 503 });
    try {
      await expectProblem(await callAs(service, 'hank', 'DELETE', 'identity'), 503, 'unavailable');
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
    expect(await mappedIds()).toContain(user.communicationUserId);
    expect(await service.emulatorIdentities()).toContain(user.communicationUserId);
    expect(await service.introspect(token)).toMatchObject({ active: true });

    expect((await callAs(service, 'hank', 'DELETE', 'identity')).status).toBe(204);
    expect(await mappedIds()).not.toContain(user.communicationUserId);
    expect(await service.emulatorIdentities()).not.toContain(user.communicationUserId);
  });

  it('treats an identity ACS no longer knows as deleted, and removes the mapping', async () => {
    const { user } = await tokenAs(service, 'ivy');
    // Deleted behind the service's back (e.g. an earlier attempt whose mapping removal failed).
    const client = new CommunicationIdentityClient(service.emulator.connectionString, {
      allowInsecureConnection: true,
    });
    await client.deleteUser({ communicationUserId: user.communicationUserId });

    expect((await callAs(service, 'ivy', 'DELETE', 'identity')).status).toBe(204);
    expect(await mappedIds()).not.toContain(user.communicationUserId);
    const ivy = { issuer: service.issuer.issuer, userId: devUserIds('ivy').oid };
    expect(auditLines(service).find((line) => line.subject === hashUser(ivy))).toMatchObject({
      outcome: 'identity_already_gone',
    });
  });
});
