import path from 'node:path';
import { CommunicationIdentityClient } from '@azure/communication-identity';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { introspect, stats } from './signed-fetch.js';

const userAssignedClientId = '5b0c7e1a-2f3d-4c4b-9e8f-0a1b2c3d4e5f';
const tlsDir = () => path.dirname(inject('emulatorCaCertPath'));

let emulator: RunningEmulator;
let now = Date.now();
const savedEnvironment = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

async function managedIdentityToken(
  target: RunningEmulator,
  query: string,
  header = target.managedIdentity.header,
): Promise<Response> {
  return fetch(`${target.managedIdentity.endpoint}?api-version=2019-08-01&${query}`, {
    headers: { 'x-identity-header': header },
  });
}

async function createWithBearer(target: RunningEmulator, token: string): Promise<Response> {
  return fetch(new URL('/identities?api-version=2023-10-01', target.endpoint), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
}

beforeAll(async () => {
  emulator = await startEmulator({
    https: true,
    tlsDir: tlsDir(),
    userAssignedClientIds: [userAssignedClientId],
    clock: () => now,
  });
  process.env.IDENTITY_ENDPOINT = emulator.managedIdentity.endpoint;
  process.env.IDENTITY_HEADER = emulator.managedIdentity.header;
});

afterAll(async () => {
  for (const [name, value] of [
    ['IDENTITY_ENDPOINT', savedEnvironment.endpoint],
    ['IDENTITY_HEADER', savedEnvironment.header],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await emulator.close();
});

describe('Entra ID authentication through the emulated managed identity, over HTTPS', () => {
  it('serves the real SDK with DefaultAzureCredential, unmodified, for every operation', async () => {
    expect(emulator.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const client = new CommunicationIdentityClient(emulator.endpoint, new DefaultAzureCredential());
    const before = await stats(emulator);
    const user = await client.createUser();
    const { token } = await client.getToken(user, ['chat']);
    expect(await introspect(emulator, token)).toMatchObject({
      active: true,
      communicationUserId: user.communicationUserId,
    });
    const { user: other } = await client.createUserAndToken(['voip']);
    await client.revokeTokens(user);
    await client.deleteUser(other);
    const teams = (await (
      await fetch(new URL('emulator/teams-users', emulator.endpoint), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId: userAssignedClientId, userId: user.communicationUserId.slice(-36) }),
      })
    ).json()) as { token: string };
    await client.getTokenForTeamsUser({
      teamsUserAadToken: teams.token,
      clientId: userAssignedClientId,
      userObjectId: user.communicationUserId.slice(-36),
    });
    const after = await stats(emulator);
    expect(after.operations.createIdentity - before.operations.createIdentity).toBe(2);
    expect(after.operations.issueToken - before.operations.issueToken).toBe(1);
    expect(after.operations.revokeTokens - before.operations.revokeTokens).toBe(1);
    expect(after.operations.deleteIdentity - before.operations.deleteIdentity).toBe(1);
    expect(after.operations.exchangeTeamsToken - before.operations.exchangeTeamsToken).toBe(1);
  });

  it('serves a user-assigned identity named by its client id', async () => {
    const client = new CommunicationIdentityClient(
      emulator.endpoint,
      new ManagedIdentityCredential({ clientId: userAssignedClientId }),
    );
    expect((await client.createUser()).communicationUserId).toMatch(/^8:acs:/);
  });

  it('refuses a client id the emulated app does not have, as App Service does', async () => {
    const client = new CommunicationIdentityClient(
      emulator.endpoint,
      new ManagedIdentityCredential({ clientId: '00000000-1111-2222-3333-444444444444' }),
    );
    await expect(client.createUser()).rejects.toThrow(/Unable to load the proper Managed Identity/);
  });
});

describe('access key authentication over HTTPS', () => {
  it('serves the SDK with a connection string naming the https endpoint', async () => {
    const client = new CommunicationIdentityClient(emulator.connectionString);
    expect(emulator.connectionString).toMatch(/^endpoint=https:\/\//);
    const { user, token } = await client.createUserAndToken(['chat']);
    expect(await introspect(emulator, token)).toMatchObject({
      active: true,
      communicationUserId: user.communicationUserId,
    });
  });
});

describe('the managed identity endpoint', () => {
  it('answers the App Service token shape for the ACS resource', async () => {
    const response = await managedIdentityToken(emulator, 'resource=https://communication.azure.com/');
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toEqual({
      access_token: expect.any(String),
      expires_on: String(Math.floor(now / 1000) + 86_400),
      resource: 'https://communication.azure.com/',
      token_type: 'Bearer',
      client_id: emulator.managedIdentity.clientId,
    });
    expect(decodeJwt(body.access_token!)).toMatchObject({
      aud: 'https://communication.azure.com/',
      appid: emulator.managedIdentity.clientId,
    });
  });

  it('answers 401 without the right X-IDENTITY-HEADER and 400 without a resource', async () => {
    expect(
      (await managedIdentityToken(emulator, 'resource=https://communication.azure.com', 'wrong')).status,
    ).toBe(401);
    expect((await managedIdentityToken(emulator, 'client_id=x')).status).toBe(400);
  });
});

describe('bearer token checks of the ACS API', () => {
  async function tokenFor(resource: string): Promise<string> {
    const body = (await (await managedIdentityToken(emulator, `resource=${resource}`)).json()) as {
      access_token: string;
    };
    return body.access_token;
  }

  it('accepts a token the emulator issued for ACS', async () => {
    expect((await createWithBearer(emulator, await tokenFor('https://communication.azure.com'))).status).toBe(
      201,
    );
  });

  it('refuses a token for another audience', async () => {
    expect((await createWithBearer(emulator, await tokenFor('https://storage.azure.com/'))).status).toBe(401);
  });

  it('refuses a token issued by another emulator', async () => {
    const stranger = await startEmulator({ https: true, tlsDir: tlsDir() });
    try {
      const body = (await (
        await managedIdentityToken(stranger, 'resource=https://communication.azure.com')
      ).json()) as {
        access_token: string;
      };
      expect((await createWithBearer(emulator, body.access_token)).status).toBe(401);
    } finally {
      await stranger.close();
    }
  });

  it('refuses an expired token', async () => {
    const token = await tokenFor('https://communication.azure.com');
    const issuedAt = now;
    try {
      now = issuedAt + 24 * 60 * 60 * 1000 + 1000;
      expect((await createWithBearer(emulator, token)).status).toBe(401);
    } finally {
      now = issuedAt;
    }
  });

  it('refuses a garbage token', async () => {
    expect((await createWithBearer(emulator, 'not.a.token')).status).toBe(401);
  });
});
