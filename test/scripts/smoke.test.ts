/**
 * `npm run smoke` (scripts/smoke.ts) against the service as it runs here: the local host serving the same handlers
 * Azure runs, the ACS emulator and the development identity provider (test/support/service.ts). Against Azure it
 * runs the same checks with a real user's Entra ID token (`npm run token:user`); that was not run here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smokeTest } from '../../scripts/smoke.js';
import { type RunningService, startService } from '../support/service.js';

let service: RunningService;

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await service?.close();
});

describe('npm run smoke', () => {
  it('passes against a working service with a signed-in user', async () => {
    const steps = await smokeTest(service.url, await service.tokenFor('smoke-user'));
    expect(steps.map((step) => [step.name, step.ok])).toEqual([
      ['GET /api/health', true],
      ['POST /api/token as the signed-in user', true],
      ['POST /api/token without a token', true],
    ]);
    expect(JSON.stringify(steps)).not.toMatch(/eyJ/); // never a token in what it prints
  });

  it('fails, saying why, when the user token is not accepted', async () => {
    const steps = await smokeTest(service.url, 'not-a-token');
    expect(steps[1]).toMatchObject({ ok: false, detail: expect.stringMatching(/^401/) });
  });

  it('refuses to send a token over plain http to anything but loopback', async () => {
    await expect(smokeTest('http://token-service.example', 'x')).rejects.toThrow(/https/);
  });
});
