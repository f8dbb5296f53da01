import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { AcsGateway, createIdentityClient } from '../../../src/acs/client.js';
import { managedIdentityCredential } from '../../../src/shared/credential.js';
import { AcsFailureError, AcsUnavailableError } from '../../../src/shared/errors.js';

let emulator: RunningEmulator;
beforeAll(async () => {
  emulator = await startEmulator();
});
afterAll(() => emulator.close());
afterEach(() => emulator.setFaults({ failRate: 0, latencyMs: 0, throttle: false }));

function gateway(connectionString = emulator.connectionString, timeoutMs = 5_000) {
  return new AcsGateway(createIdentityClient({ kind: 'connectionString', connectionString }), timeoutMs);
}

async function failureOf(promise: Promise<unknown>) {
  return promise.then(
    () => {
      throw new Error('expected the ACS call to fail');
    },
    (error: unknown) => error,
  );
}

describe('AcsSession', () => {
  it('creates an identity with a token, issues another and deletes it, counting each ACS call', async () => {
    const session = gateway().session();
    const created = await session.createIdentityWithToken(['chat'], 60);
    expect(created.communicationUserId).toMatch(/^8:acs:[0-9a-f-]+_[^_]+$/);
    expect(created.expiresOn.getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
    const issued = await session.issueToken(created.communicationUserId, ['chat', 'voip'], 120);
    expect(issued.expiresOn.getTime()).toBeGreaterThan(Date.now() + 119 * 60_000);
    await session.deleteIdentity(created.communicationUserId);
    expect(session.calls).toBe(3);
    const identities = (await (await fetch(new URL('emulator/identities', emulator.endpoint))).json()) as {
      identities: string[];
    };
    expect(identities.identities).not.toContain(created.communicationUserId);
  });

  it('turns throttling into AcsUnavailableError with ACS Retry-After, without retrying', async () => {
    emulator.setFaults({ failRate: 1, failStatus: 429, retryAfterSeconds: 7 });
    const session = gateway().session();
    const error = await failureOf(session.createIdentityWithToken(['chat'], 60));
    expect(error).toBeInstanceOf(AcsUnavailableError);
    expect(error).toMatchObject({ reason: 'acs_429', retryAfterSeconds: 7, message: 'acs_429' });
    expect(session.calls).toBe(1);
  });

  it('turns 503 into AcsUnavailableError too', async () => {
    emulator.setFaults({ failRate: 1, failStatus: 503, retryAfterSeconds: 3 });
    const error = await failureOf(gateway().session().createIdentityWithToken(['chat'], 60));
    expect(error).toMatchObject({ name: 'AcsUnavailableError', retryAfterSeconds: 3 });
  });

  it('retries a 500 once within the budget', async () => {
    emulator.setFaults({ failRate: 0.5, failStatus: 500 });
    const session = gateway().session();
    await session.createIdentityWithToken(['chat'], 60);
    await session.createIdentityWithToken(['chat'], 60);
    expect(session.calls).toBe(3);

    emulator.setFaults({ failRate: 1, failStatus: 500 });
    const failing = gateway().session();
    expect(await failureOf(failing.createIdentityWithToken(['chat'], 60))).toMatchObject({
      name: 'AcsUnavailableError',
      reason: 'acs_500',
    });
    expect(failing.calls).toBe(2);
  });

  it('turns a refused call (wrong access key) into AcsFailureError without the SDK message', async () => {
    const wrongKey = emulator.connectionString.replace(
      /accesskey=.*/i,
      `accesskey=${Buffer.from('wrong').toString('base64')}`,
    );
    const error = await failureOf(gateway(wrongKey).session().createIdentityWithToken(['chat'], 60));
    expect(error).toBeInstanceOf(AcsFailureError);
    expect(error).toMatchObject({ statusCode: 401, message: 'acs_401' });
  });

  it('ends a hanging call at the time budget', async () => {
    emulator.setFaults({ latencyMs: 5_000 });
    const session = gateway(emulator.connectionString, 200).session();
    const error = await failureOf(session.createIdentityWithToken(['chat'], 60));
    expect(error).toMatchObject({ name: 'AcsUnavailableError', reason: 'acs_timeout' });
  });

  it('waits out ACS Retry-After to delete an identity it must not keep, within the cleanup budget', async () => {
    const session = gateway(emulator.connectionString, 3_000).session();
    // Every other call fails: the create (call 0) succeeds, the first delete (call 1) gets 503 + Retry-After 1.
    emulator.setFaults({ failRate: 0.5, failStatus: 503, retryAfterSeconds: 1 });
    const created = await session.createIdentityWithToken(['chat'], 60);
    await session.deleteIdentity(created.communicationUserId);
    expect(session.calls).toBe(3);
    const identities = (await (await fetch(new URL('emulator/identities', emulator.endpoint))).json()) as {
      identities: string[];
    };
    expect(identities.identities).not.toContain(created.communicationUserId);

    const hurried = gateway(emulator.connectionString, 500).session();
    emulator.setFaults({ failRate: 0.5, failStatus: 503, retryAfterSeconds: 1 });
    const kept = await hurried.createIdentityWithToken(['chat'], 60);
    const error = await failureOf(hurried.deleteIdentity(kept.communicationUserId));
    expect(error).toMatchObject({ name: 'AcsUnavailableError', reason: 'acs_503' });
    expect(hurried.calls).toBe(2);
  });

  it('reports an unreachable ACS as unavailable', async () => {
    const closed = await startEmulator();
    await closed.close();
    const error = await failureOf(
      gateway(closed.connectionString).session().createIdentityWithToken(['chat'], 60),
    );
    expect(error).toMatchObject({ name: 'AcsUnavailableError', reason: 'acs_unreachable' });
  });
});

describe('createIdentityClient with a managed identity', () => {
  it('calls ACS over HTTPS with an Entra token from the managed identity endpoint, no access key', async () => {
    const secure = await startEmulator({ https: true, tlsDir: path.dirname(inject('emulatorCaCertPath')) });
    const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
    process.env.IDENTITY_ENDPOINT = secure.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = secure.managedIdentity.header;
    try {
      const client = createIdentityClient(
        { kind: 'managedIdentity', endpoint: secure.endpoint },
        managedIdentityCredential(undefined),
      );
      const session = new AcsGateway(client, 10_000).session();
      const created = await session.createIdentityWithToken(['voip'], 60);
      expect(created.communicationUserId).toMatch(/^8:acs:/);
    } finally {
      process.env.IDENTITY_ENDPOINT = saved.endpoint;
      process.env.IDENTITY_HEADER = saved.header;
      if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
      if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
      await secure.close();
    }
  });
});
