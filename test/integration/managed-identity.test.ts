import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../dev/emulator/index.js';
import { callAs, expectProblem, LIFECYCLE_TEST_ENV, tokenAs } from '../src/functions/api-client.js';
import { type RunningService, startService } from '../support/service.js';

const USER_ASSIGNED_CLIENT_ID = '7d3c2b1a-0f9e-4d8c-b7a6-958473625140';
const MANAGED_IDENTITY_VARIABLES = ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER'] as const;

/**
 * Managed identity end to end: the service reaches the emulator over HTTPS with Entra ID tokens from the emulated
 * App Service managed identity endpoint, and has no connection string or access key anywhere. DefaultAzureCredential
 * reads IDENTITY_ENDPOINT/IDENTITY_HEADER from process.env (the local host runs in this process), so they are set
 * there for the duration of this file; NODE_EXTRA_CA_CERTS (test/global-setup.ts) makes the emulator's CA trusted.
 */
describe('managed identity, no access key anywhere', () => {
  let emulator: RunningEmulator;
  const saved = Object.fromEntries(MANAGED_IDENTITY_VARIABLES.map((name) => [name, process.env[name]]));
  const running: RunningService[] = [];

  beforeAll(async () => {
    emulator = await startEmulator({
      https: true,
      tlsDir: path.dirname(inject('emulatorCaCertPath')),
      userAssignedClientIds: [USER_ASSIGNED_CLIENT_ID],
    });
    process.env.IDENTITY_ENDPOINT = emulator.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = emulator.managedIdentity.header;
  });

  afterAll(async () => {
    for (const service of running) await service.close();
    for (const name of MANAGED_IDENTITY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await emulator.close();
  });

  async function serviceWith(env: Record<string, string | undefined>) {
    const service = await startService({
      emulator,
      env: {
        ...LIFECYCLE_TEST_ENV,
        COMMUNICATION_SERVICES_CONNECTION_STRING: undefined,
        COMMUNICATION_SERVICES_ENDPOINT: emulator.endpoint,
        ...env,
      },
    });
    running.push(service);
    const everywhere = [...Object.values(service.env), ...Object.values(process.env)].join('\n');
    expect(everywhere).not.toContain(emulator.accessKey);
    expect(everywhere.toLowerCase()).not.toContain('accesskey=');
    expect(service.env.COMMUNICATION_SERVICES_ENDPOINT).toMatch(/^https:\/\//);
    return service;
  }

  async function expectFullLifecycle(service: RunningService, user: string) {
    const first = await tokenAs(service, user);
    expect(await service.introspect(first.token)).toMatchObject({ active: true });
    expect((await callAs(service, user, 'POST', 'identity/revoke')).status).toBe(204);
    expect(await service.introspect(first.token)).toMatchObject({ active: false });
    expect((await callAs(service, user, 'DELETE', 'identity')).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(first.user.communicationUserId);
    const next = await tokenAs(service, user);
    expect(next.user.communicationUserId).not.toBe(first.user.communicationUserId);
  }

  it('issues, revokes and deletes with the system-assigned identity', async () => {
    const service = await serviceWith({ AZURE_CLIENT_ID: undefined });
    const before = await service.emulatorStats();
    await expectFullLifecycle(service, 'system-assigned-user');
    const after = await service.emulatorStats();
    expect(after.rejected.authentication).toBe(before.rejected.authentication);
  });

  it('does the same with a user-assigned identity selected by AZURE_CLIENT_ID', async () => {
    const service = await serviceWith({ AZURE_CLIENT_ID: USER_ASSIGNED_CLIENT_ID });
    await expectFullLifecycle(service, 'user-assigned-user');
  });

  it('fails cleanly (a problem, no identity) when AZURE_CLIENT_ID names an identity the app does not have', async () => {
    const service = await serviceWith({ AZURE_CLIENT_ID: '00000000-1111-4222-8333-444444444444' });
    const before = await service.emulatorStats();
    const response = await callAs(service, 'nobody', 'POST', 'token');
    expect([502, 503]).toContain(response.status);
    await expectProblem(response, response.status);
    expect((await service.emulatorStats()).operations.createIdentity).toBe(before.operations.createIdentity);
  });
});
