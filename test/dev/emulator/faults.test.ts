import { CommunicationIdentityClient } from '@azure/communication-identity';
import { afterEach, describe, expect, it } from 'vitest';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { rejection, signedFetch, stats } from './signed-fetch.js';

const fastRetries = { maxRetries: 3, retryDelayInMs: 1, maxRetryDelayInMs: 5 };
const running: RunningEmulator[] = [];

async function emulatorWith(options: EmulatorOptions): Promise<RunningEmulator> {
  const emulator = await startEmulator(options);
  running.push(emulator);
  return emulator;
}

function sdk(emulator: RunningEmulator, retryOptions = fastRetries) {
  return new CommunicationIdentityClient(emulator.connectionString, {
    allowInsecureConnection: true,
    retryOptions,
  });
}

const createIdentity = { method: 'POST', pathAndQuery: '/identities?api-version=2023-10-01' };

afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.close()));
});

describe('injected failures', () => {
  it.each([429, 503] as const)(
    'answers %i with Retry-After, which the SDK honours by retrying',
    async (failStatus) => {
      const emulator = await emulatorWith({ failRate: 1, failStatus, faultRetryAfterSeconds: 0 });
      const error = await rejection(sdk(emulator).createUser());
      expect(error.statusCode).toBe(failStatus);
      const counted = await stats(emulator);
      expect(counted.rejected.faults).toBe(1 + fastRetries.maxRetries);
      expect(counted.operations.createIdentity).toBe(0);
      expect(counted.identities.active).toBe(0);
    },
  );

  it('answers 500 without Retry-After, which the SDK retries with back-off', async () => {
    const emulator = await emulatorWith({ failRate: 1, failStatus: 500 });
    const raw = await signedFetch(emulator, createIdentity);
    expect(raw.status).toBe(500);
    expect(raw.headers.get('retry-after')).toBeNull();
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('InternalServerError');
    const error = await rejection(sdk(emulator).createUser());
    expect(error.statusCode).toBe(500);
    expect((await stats(emulator)).rejected.faults).toBe(1 + 1 + fastRetries.maxRetries);
  });

  it('sends Retry-After of one second by default on 429 and 503', async () => {
    const emulator = await emulatorWith({ failRate: 1, failStatus: 429 });
    const raw = await signedFetch(emulator, createIdentity);
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('1');
  });

  it('fails an exact, repeatable share of calls, so SDK retries recover', async () => {
    const emulator = await emulatorWith({ failRate: 0.5, failStatus: 503, faultRetryAfterSeconds: 0 });
    const client = sdk(emulator);
    await client.createUser();
    await client.createUser();
    await client.createUser();
    const counted = await stats(emulator);
    expect(counted.operations.createIdentity).toBe(3);
    expect(counted.rejected.faults).toBe(2);
    expect(counted.identities.active).toBe(3);
  });

  it('can be switched on and off at run time through PUT /emulator/faults', async () => {
    const emulator = await emulatorWith({});
    const put = (body: unknown) =>
      fetch(new URL('emulator/faults', emulator.endpoint), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put({ failRate: 1, failStatus: 503, retryAfterSeconds: 0 })).status).toBe(204);
    expect((await signedFetch(emulator, createIdentity)).status).toBe(503);
    expect((await put({ failRate: 0 })).status).toBe(204);
    expect((await signedFetch(emulator, createIdentity)).status).toBe(201);
    expect((await put({ failStatus: 404 })).status).toBe(400);
    expect((await put({ failRate: 2 })).status).toBe(400);
  });

  it('does not inject failures into calls that fail authentication', async () => {
    const emulator = await emulatorWith({ failRate: 1 });
    const response = await signedFetch(emulator, {
      ...createIdentity,
      key: Buffer.alloc(32).toString('base64'),
    });
    expect(response.status).toBe(401);
    expect((await stats(emulator)).rejected).toMatchObject({ authentication: 1, faults: 0 });
  });
});

describe('latency', () => {
  it('delays every ACS call by at least the configured time', async () => {
    const emulator = await emulatorWith({});
    emulator.setFaults({ latencyMs: 150 });
    const started = performance.now();
    expect((await signedFetch(emulator, createIdentity)).status).toBe(201);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });
});

describe('throttling', () => {
  it('answers 429 with Retry-After over the per-30-seconds limit and recovers in the next window', async () => {
    let now = Date.now();
    const emulator = await emulatorWith({ throttle: true, clock: () => now });
    const client = sdk(emulator, { ...fastRetries, maxRetries: 0 });
    const user = await client.createUser();
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 50 }, () => client.revokeTokens(user)));
    }
    const path = `/identities/${encodeURIComponent(user.communicationUserId)}/:revokeAccessTokens?api-version=2023-10-01`;
    const throttled = await signedFetch(emulator, { method: 'POST', pathAndQuery: path });
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect((await rejection(client.revokeTokens(user))).statusCode).toBe(429);
    // Other operations have their own limits.
    await client.getToken(user, ['chat']);

    now += 30_000;
    await client.revokeTokens(user);
    const counted = await stats(emulator);
    expect(counted.operations.revokeTokens).toBe(501);
    expect(counted.rejected.throttled).toBe(2);
  });

  it('is off by default', async () => {
    const emulator = await emulatorWith({});
    const client = sdk(emulator, { ...fastRetries, maxRetries: 0 });
    const user = await client.createUser();
    for (let batch = 0; batch < 11; batch += 1) {
      await Promise.all(Array.from({ length: 50 }, () => client.revokeTokens(user)));
    }
    expect((await stats(emulator)).rejected.throttled).toBe(0);
  });
});
