import {
  CommunicationIdentityClient,
  type CommunicationIdentityClientOptions,
} from '@azure/communication-identity';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { apiVersions } from '../../../dev/emulator/versions.js';
import { emulatorJson, introspect, rejection, signedFetch, stats } from './signed-fetch.js';

const identitiesVersions = '2021-03-07, 2022-06-01, 2022-10-01, 2023-10-01, 2025-06-30';

const foreignIdentity = {
  communicationUserId: '8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000000',
};
const expiresOnFormat = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00$/;

let emulator: RunningEmulator;
let client: CommunicationIdentityClient;

/** The SDK honours `apiVersion` at run time (it rewrites the query) though its options type does not declare it. */
type VersionedClientOptions = CommunicationIdentityClientOptions & { apiVersion?: string };

function clientFor(options: VersionedClientOptions = {}) {
  return new CommunicationIdentityClient(emulator.connectionString, {
    allowInsecureConnection: true,
    ...options,
  });
}

beforeAll(async () => {
  emulator = await startEmulator({ resourceId: '2dee53b4-368b-45b4-ab52-8493fb117652' });
  client = clientFor();
});

afterAll(async () => {
  await emulator.close();
});

describe('operations through the real SDK with a connection string', () => {
  it('creates identities whose ids have the resource guid and exactly one underscore', async () => {
    const user = await client.createUser();
    expect(user.communicationUserId).toMatch(/^8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_[0-9a-f-]{36}$/);
    expect(user.communicationUserId.split('_')).toHaveLength(2);
  });

  it('issues tokens whose payload matches the service and whose exp equals expiresOn', async () => {
    const user = await client.createUser();
    const before = Math.floor(Date.now() / 1000);
    const { token, expiresOn } = await client.getToken(user, ['chat', 'voip'], { tokenExpiresInMinutes: 60 });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      skypeid: user.communicationUserId.slice(2),
      scp: 1792,
      acsScope: 'chat,voip',
      resourceId: '2dee53b4-368b-45b4-ab52-8493fb117652',
    });
    expect(claims.csi).toBe(String(claims.iat));
    expect(claims.exp).toBe(expiresOn.getTime() / 1000);
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
  });

  it('defaults the token lifetime to 24 hours', async () => {
    const { token } = await client.createUserAndToken(['voip']);
    const claims = decodeJwt(token);
    expect(claims.exp! - claims.iat!).toBe(86_400);
  });

  it('creates an identity with a token in one call', async () => {
    const result = await client.createUserAndToken(['chat'], { tokenExpiresInMinutes: 1440 });
    expect((await introspect(emulator, result.token)).communicationUserId).toBe(
      result.user.communicationUserId,
    );
  });

  it('revokes tokens issued before the revocation and not those issued after', async () => {
    const { user, token: before } = await client.createUserAndToken(['chat']);
    expect(await introspect(emulator, before)).toMatchObject({ active: true, scopes: ['chat'] });
    await client.revokeTokens(user);
    const { token: after } = await client.getToken(user, ['voip']);
    expect(await introspect(emulator, before)).toMatchObject({ active: false, inactiveReason: 'revoked' });
    expect(await introspect(emulator, after)).toMatchObject({ active: true, scopes: ['voip'] });
  });

  it('deletes an identity: its tokens stop working and its id becomes unknown', async () => {
    const { user, token } = await client.createUserAndToken(['chat']);
    await client.deleteUser(user);
    expect(await introspect(emulator, token)).toMatchObject({ active: false, inactiveReason: 'deleted' });
    const listed = await emulatorJson<{ identities: string[] }>(emulator, 'emulator/identities');
    expect(listed.identities).not.toContain(user.communicationUserId);
    for (const call of [
      client.getToken(user, ['chat']),
      client.revokeTokens(user),
      client.deleteUser(user),
    ]) {
      const error = await rejection(call);
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('IdentityNotFound');
    }
  });
});

describe("the SDK's public test expectations", () => {
  it('refuses getToken, revokeTokens and deleteUser for an identity of another resource with 401', async () => {
    for (const call of [
      client.getToken(foreignIdentity, ['chat']),
      client.revokeTokens(foreignIdentity),
      client.deleteUser(foreignIdentity),
    ]) {
      expect((await rejection(call)).statusCode).toBe(401);
    }
  });

  it('refuses token lifetimes of 59 and 1441 minutes with 400', async () => {
    const user = await client.createUser();
    for (const minutes of [59, 1441]) {
      expect(
        (await rejection(client.getToken(user, ['chat'], { tokenExpiresInMinutes: minutes }))).statusCode,
      ).toBe(400);
      const created = client.createUserAndToken(['chat'], { tokenExpiresInMinutes: minutes });
      expect((await rejection(created)).statusCode).toBe(400);
    }
  });

  it('refuses empty scopes with the recorded message', async () => {
    const user = await client.createUser();
    const error = await rejection(client.getToken(user, []));
    expect(error.statusCode).toBe(400);
    expect(error.message).toBe('Invalid scopes - Scopes field is required.');
  });

  it('refuses unknown scopes, which the SDK passes through unchecked', async () => {
    const user = await client.createUser();
    // biome-ignore lint/suspicious/noExplicitAny: the SDK's types forbid what the service must refuse
    const error = await rejection(client.getToken(user, ['admin' as any]));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('ValidationError');
  });

  describe('Teams token exchange', () => {
    const appId = '3f6c0c3e-1b1a-4c52-9b0c-9a1f1f0f2a11';
    const userId = '7a4b1f0e-6d2c-4e8f-8a1b-2c3d4e5f6a7b';

    async function teamsToken(expiresInSeconds?: number): Promise<string> {
      const body = await emulatorJson<{ token: string }>(emulator, 'emulator/teams-users', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appId, userId, expiresInSeconds }),
      });
      return body.token;
    }

    it('exchanges a valid token for an ACS token that expires with it', async () => {
      const teamsUserAadToken = await teamsToken(3600);
      const result = await client.getTokenForTeamsUser({
        teamsUserAadToken,
        clientId: appId,
        userObjectId: userId,
      });
      expect(result.expiresOn.getTime() / 1000).toBe(decodeJwt(teamsUserAadToken).exp);
      expect(await introspect(emulator, result.token)).toMatchObject({
        active: true,
        communicationUserId: `8:orgid:${userId}`,
      });
    });

    it('answers 401 for an empty, invalid or expired Entra token', async () => {
      for (const teamsUserAadToken of ['', 'not-a-token', await teamsToken(-60)]) {
        const call = client.getTokenForTeamsUser({
          teamsUserAadToken,
          clientId: appId,
          userObjectId: userId,
        });
        expect((await rejection(call)).statusCode).toBe(401);
      }
    });

    it('answers 400 when appId or userId does not match the token', async () => {
      const teamsUserAadToken = await teamsToken();
      const other = '00000000-0000-0000-0000-000000000001';
      for (const options of [
        { teamsUserAadToken, clientId: other, userObjectId: userId },
        { teamsUserAadToken, clientId: appId, userObjectId: other },
        { teamsUserAadToken, clientId: 'not-a-guid', userObjectId: userId },
      ]) {
        expect((await rejection(client.getTokenForTeamsUser(options))).statusCode).toBe(400);
      }
    });
  });
});

describe('wire format', () => {
  it('answers create with 201, the service content type, the echoed request id and the supported versions', async () => {
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2023-10-01',
      body: JSON.stringify({ createTokenWithScopes: ['chat'], expiresInMinutes: 60 }),
      headers: { 'x-ms-client-request-id': 'request-42' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('x-ms-client-request-id')).toBe('request-42');
    expect(response.headers.get('api-supported-versions')).toBe(identitiesVersions);
    const body = (await response.json()) as { identity: { id: string }; accessToken: { expiresOn: string } };
    expect(body.accessToken.expiresOn).toMatch(expiresOnFormat);
  });

  it('answers revoke with 204, no body and no content type', async () => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: `/identities/${encodeURIComponent(user.communicationUserId)}/:revokeAccessTokens?api-version=2023-10-01`,
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('content-type')).toBeNull();
    expect(await response.text()).toBe('');
    expect(response.headers.get('api-supported-versions')).toBe(identitiesVersions);
  });

  it('answers the recorded body for empty scopes', async () => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: `/identities/${encodeURIComponent(user.communicationUserId)}/:issueAccessToken?api-version=2023-10-01`,
      body: JSON.stringify({ scopes: [] }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toBe(
      '{"error":{"code":"ValidationError","message":"Invalid scopes - Scopes field is required.","target":"scopes"}}',
    );
  });

  it.each([
    ['malformed JSON', '{"scopes": ['],
    ['a body that is not an object', '["chat"]'],
    ['scopes of the wrong type', '{"scopes": "chat"}'],
    ['an expiry of the wrong type', '{"scopes": ["chat"], "expiresInMinutes": "60"}'],
    ['a fractional expiry', '{"scopes": ["chat"], "expiresInMinutes": 60.5}'],
    ['a missing body', ''],
  ])('refuses %s with 400 and the error shape', async (_, body) => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: `/identities/${encodeURIComponent(user.communicationUserId)}/:issueAccessToken?api-version=2023-10-01`,
      body,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/json');
    const error = ((await response.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toEqual(expect.any(String));
    expect(error.message).toEqual(expect.any(String));
  });
});

describe('api-version support', () => {
  it('refuses an unsupported or missing version the way the service does', async () => {
    const unsupported = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2020-07-20-preview2',
    });
    expect(unsupported.status).toBe(400);
    const body = (await unsupported.json()) as { error: { message: string } };
    expect(body.error.message).toBe(
      `The HTTP resource that matches the request URI '${emulator.endpoint}identities' does not support the API version '2020-07-20-preview2'.`,
    );
    expect((await signedFetch(emulator, { method: 'POST', pathAndQuery: '/identities' })).status).toBe(400);
  });

  it('serves every stable version the SDK can be pointed at', async () => {
    for (const apiVersion of apiVersions) {
      const result = await clientFor({ apiVersion }).createUserAndToken(['chat']);
      expect(result.user.communicationUserId).toMatch(/^8:acs:/);
    }
  });

  it('ignores expiresInMinutes before 2022-10-01 and honours it from then on', async () => {
    const lifetime = async (apiVersion: string) => {
      const { token } = await clientFor({ apiVersion }).createUserAndToken(['chat'], {
        tokenExpiresInMinutes: 60,
      });
      const claims = decodeJwt(token);
      return claims.exp! - claims.iat!;
    };
    expect(await lifetime('2022-06-01')).toBe(86_400);
    expect(await lifetime('2022-10-01')).toBe(3600);
  });

  it('offers the Teams exchange from 2022-06-01 only', async () => {
    const call = clientFor({ apiVersion: '2021-03-07' }).getTokenForTeamsUser({
      teamsUserAadToken: 'x',
      clientId: 'y',
      userObjectId: 'z',
    });
    const error = await rejection(call);
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('UnsupportedApiVersion');
  });

  it('accepts the join scopes from 2023-10-01 only', async () => {
    const old = await rejection(clientFor({ apiVersion: '2023-08-01' }).createUserAndToken(['chat.join']));
    expect(old.statusCode).toBe(400);
    const current = await clientFor({ apiVersion: '2023-10-01' }).createUserAndToken([
      'chat.join',
      'chat.join.limited',
      'voip.join',
    ]);
    expect(decodeJwt(current.token).acsScope).toBe('chat.join,chat.join.limited,voip.join');
  });

  it('offers customId and GET /identities/{id} from 2025-06-30 only', async () => {
    const create = (version: string) =>
      signedFetch(emulator, {
        method: 'POST',
        pathAndQuery: `/identities?api-version=${version}`,
        body: JSON.stringify({ customId: 'alice@contoso.example' }),
      }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as { identity: { id: string } },
      }));
    const first = await create('2025-06-30');
    const second = await create('2025-06-30');
    expect(first.status).toBe(201);
    expect(second.body.identity.id).toBe(first.body.identity.id);
    expect((await create('2023-10-01')).body.identity.id).not.toBe(first.body.identity.id);

    const id = encodeURIComponent(first.body.identity.id);
    const detail = await signedFetch(emulator, {
      method: 'GET',
      pathAndQuery: `/identities/${id}?api-version=2025-06-30`,
    });
    expect(detail.status).toBe(200);
    expect(await detail.json()).toEqual({ id: first.body.identity.id, customId: 'alice@contoso.example' });
    const old = await signedFetch(emulator, {
      method: 'GET',
      pathAndQuery: `/identities/${id}?api-version=2023-10-01`,
    });
    expect(old.status).toBe(400);
  });
});

describe('introspection', () => {
  it('reports tokens it did not issue as inactive', async () => {
    expect(await introspect(emulator, 'a.b.c')).toMatchObject({ active: false });
  });

  it('reports a token as expired once the emulator clock passes its expiry', async () => {
    let now = Date.now();
    const clocked = await startEmulator({ clock: () => now });
    try {
      const sdk = new CommunicationIdentityClient(clocked.connectionString, {
        allowInsecureConnection: true,
      });
      const { token, expiresOn } = await sdk.createUserAndToken(['chat'], { tokenExpiresInMinutes: 60 });
      expect(await introspect(clocked, token)).toMatchObject({ active: true });
      now = expiresOn.getTime();
      expect(await introspect(clocked, token)).toMatchObject({ active: false, inactiveReason: 'expired' });
    } finally {
      await clocked.close();
    }
  });
});

describe('stats', () => {
  it('counts successful calls per operation, refusals per reason, and active identities', async () => {
    const counted = await startEmulator();
    try {
      const sdk = new CommunicationIdentityClient(counted.connectionString, {
        allowInsecureConnection: true,
      });
      const user = await sdk.createUser();
      const { user: other } = await sdk.createUserAndToken(['chat']);
      await sdk.getToken(user, ['voip']);
      await sdk.revokeTokens(user);
      await sdk.deleteUser(other);
      await rejection(sdk.getToken(user, []));
      await rejection(sdk.getToken(other, ['chat']));
      await rejection(sdk.getToken(foreignIdentity, ['chat']));
      const wrongKey = await signedFetch(counted, {
        method: 'POST',
        pathAndQuery: '/identities?api-version=2023-10-01',
        key: Buffer.alloc(32, 1).toString('base64'),
      });
      expect(wrongKey.status).toBe(401);
      expect(await stats(counted)).toEqual({
        operations: {
          createIdentity: 2,
          getIdentity: 0,
          issueToken: 1,
          revokeTokens: 1,
          deleteIdentity: 1,
          exchangeTeamsToken: 0,
        },
        rejected: { authentication: 1, validation: 1, notFound: 2, throttled: 0, faults: 0 },
        identities: { active: 1 },
        undelivered: {
          createIdentity: 0,
          getIdentity: 0,
          issueToken: 0,
          revokeTokens: 0,
          deleteIdentity: 0,
          exchangeTeamsToken: 0,
        },
      });
    } finally {
      await counted.close();
    }
  });
});
