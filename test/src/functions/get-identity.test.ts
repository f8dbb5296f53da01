import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../support/service.js';
import { callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from './api-client.js';

describe('GET /api/identity', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: LIFECYCLE_TEST_ENV });
  });
  afterAll(() => service.close());

  it('answers 404 before the first token, then the identity the tokens belong to', async () => {
    const before = await callAs(service, 'newcomer', 'GET', 'identity');
    expect((await expectProblem(before, 404, 'not-found')).detail).toMatch(/POST \/api\/token/);

    const { user } = await tokenAs(service, 'newcomer');
    const after = await callAs(service, 'newcomer', 'GET', 'identity');
    expect(after.status).toBe(200);
    expect(after.headers.get('cache-control')).toBe('no-store');
    expect(await after.json()).toEqual({ communicationUserId: user.communicationUserId });
  });

  it('shows each caller only its own identity and makes no ACS call', async () => {
    const alice = await tokenAs(service, 'alice');
    const bob = await tokenAs(service, 'bob');
    const before = await service.emulatorStats();
    const seen = await Promise.all(
      ['alice', 'bob'].map(async (user) => (await callAs(service, user, 'GET', 'identity')).json()),
    );
    expect(seen).toEqual([
      { communicationUserId: alice.user.communicationUserId },
      { communicationUserId: bob.user.communicationUserId },
    ]);
    expect(await service.emulatorStats()).toEqual(before);
  });

  it('requires a verified caller', async () => {
    await expectProblem(await callAs(service, null, 'GET', 'identity'), 401, 'unauthenticated');
  });
});

describe('GET /api/identity in anonymous mode', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...LIFECYCLE_TEST_ENV, AUTH_MODE: 'anonymous' } });
  });
  afterAll(() => service.close());

  it('refuses: nobody has a durable identity', async () => {
    const body = await expectProblem(await callAs(service, null, 'GET', 'identity'), 403, 'forbidden');
    expect(body.detail).toMatch(/anonymous/);
  });
});
