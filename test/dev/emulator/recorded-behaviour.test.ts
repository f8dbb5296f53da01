// What the real service answered in public recordings, replayed against the emulator. Each case names its source;
// docs/emulator.md lists them with repository, path and commit.
import { CommunicationIdentityClient } from '@azure/communication-identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { emulatorJson, rejection, signedFetch, stats } from './signed-fetch.js';

const identitiesVersions = '2021-03-07, 2022-06-01, 2022-10-01, 2023-10-01, 2025-06-30';
const teamsVersions = '2022-06-01, 2022-10-01, 2023-10-01, 2025-06-30';
const foreignIdentity = {
  communicationUserId: '8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000000',
};

let emulator: RunningEmulator;
let client: CommunicationIdentityClient;

beforeAll(async () => {
  emulator = await startEmulator();
  client = new CommunicationIdentityClient(emulator.connectionString, { allowInsecureConnection: true });
});

afterAll(async () => {
  await emulator.close();
});

function issuePath(communicationUserId: string, version = '2023-10-01'): string {
  return `/identities/${encodeURIComponent(communicationUserId)}/:issueAccessToken?api-version=${version}`;
}

describe('JSON null for optional fields (the Python SDK sends it)', () => {
  // azure-sdk-for-python recordings test_create_user_and_token_with_no_scopes and test_revoke_tokens.
  it('creates an identity from {"createTokenWithScopes": null, "expiresInMinutes": null}', async () => {
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2022-10-01',
      body: JSON.stringify({ createTokenWithScopes: null, expiresInMinutes: null }),
    });
    expect(response.status).toBe(201);
    expect(Object.keys((await response.json()) as object)).toEqual(['identity']);
  });

  it('issues a token for {"scopes": ["chat"], "expiresInMinutes": null} with the default lifetime', async () => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: issuePath(user.communicationUserId, '2022-10-01'),
      body: JSON.stringify({ scopes: ['chat'], expiresInMinutes: null }),
    });
    expect(response.status).toBe(200);
    const { expiresOn } = (await response.json()) as { expiresOn: string };
    expect(Date.parse(expiresOn) - Date.now()).toBeGreaterThan(1439 * 60_000);
  });

  it('accepts a null customId on 2025-06-30 as absent', async () => {
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2025-06-30',
      body: JSON.stringify({ customId: null }),
    });
    expect(response.status).toBe(201);
  });
});

describe('validation errors as recorded', () => {
  // azure-sdk-for-python recording test_get_token_with_no_scopes: model binding, no api-supported-versions.
  it('refuses null scopes with the model-binding message and target, without api-supported-versions', async () => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: issuePath(user.communicationUserId, '2022-10-01'),
      body: JSON.stringify({ scopes: null, expiresInMinutes: null }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('api-supported-versions')).toBeNull();
    expect(await response.text()).toBe(
      '{"error":{"code":"ValidationError","message":"Scopes: The Scopes field is required.","target":"Scopes"}}',
    );
  });

  // azure-sdk-for-python recordings test_*_with_invalid_custom_expirations[min_invalid_mins-59 / max_invalid_mins-1441].
  it.each([59, 1441])(
    'refuses a lifetime of %i minutes with the recorded message, through the SDK',
    async (minutes) => {
      const user = await client.createUser();
      for (const call of [
        client.getToken(user, ['chat'], { tokenExpiresInMinutes: minutes }),
        client.createUserAndToken(['chat'], { tokenExpiresInMinutes: minutes }),
      ]) {
        const error = await rejection(call);
        expect(error.statusCode).toBe(400);
        expect(error.code).toBe('ValidationError');
        expect(error.message).toBe(
          `ExpiresInMinutes value ${minutes} is invalid. Value must be within the [60, 1440] interval.`,
        );
      }
    },
  );

  it('names ExpiresInMinutes as the target and lists the supported versions on that refusal', async () => {
    const user = await client.createUser();
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: issuePath(user.communicationUserId),
      body: JSON.stringify({ scopes: ['chat'], expiresInMinutes: 59 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { target: string } }).error.target).toBe('ExpiresInMinutes');
    expect(response.headers.get('api-supported-versions')).toBe(identitiesVersions);
  });

  // azure-sdk-assets js recordings recording_throws_an_error_when_attempting_to_{delete_an_invalid_user,issue_a_token...}.
  it('refuses an identity of another resource with 401 IdentityNotOwned, through the SDK', async () => {
    for (const call of [
      client.getToken(foreignIdentity, ['chat', 'voip']),
      client.deleteUser(foreignIdentity),
      client.revokeTokens(foreignIdentity),
    ]) {
      const error = await rejection(call);
      expect(error.statusCode).toBe(401);
      expect(error.code).toBe('IdentityNotOwned');
      expect(error.message).toBe("Provided identity doesn't belong to the resource.");
    }
  });
});

describe('Teams token exchange errors as recorded (azure-sdk-for-python test_get_token_for_teams_user_*)', () => {
  const appId = '3f6c0c3e-1b1a-4c52-9b0c-9a1f1f0f2a11';
  const userId = '7a4b1f0e-6d2c-4e8f-8a1b-2c3d4e5f6a7b';
  const other = '81e78ca8-ade5-4998-9c05-1e17f850fcfe';
  let teamsUserAadToken: string;

  beforeAll(async () => {
    ({ token: teamsUserAadToken } = await emulatorJson<{ token: string }>(emulator, 'emulator/teams-users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appId, userId }),
    }));
  });

  it.each([
    ['an invalid appId', { clientId: 'invalid', userObjectId: userId }, 'Provided AppId has invalid format.'],
    [
      'an invalid userId',
      { clientId: appId, userObjectId: 'invalid' },
      'Provided UserId has invalid format.',
    ],
    ['another app', { clientId: other, userObjectId: userId }, 'AAD application is not the expected one.'],
    [
      'another user',
      { clientId: appId, userObjectId: other },
      'Provided AAD token issued for unexpected user.',
    ],
    ['an empty appId', { clientId: '', userObjectId: userId }, 'AppId: The AppId field is required.'],
    ['an empty userId', { clientId: appId, userObjectId: '' }, 'UserId: The UserId field is required.'],
  ])('refuses %s with 400 and the recorded message', async (_, ids, message) => {
    const error = await rejection(client.getTokenForTeamsUser({ teamsUserAadToken, ...ids }));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('ValidationError');
    expect(error.message).toBe(message);
  });

  it('refuses an empty or invalid Entra token with 401 InvalidAccessToken before looking at the ids', async () => {
    for (const token of ['', 'invalid']) {
      const error = await rejection(
        client.getTokenForTeamsUser({ teamsUserAadToken: token, clientId: appId, userObjectId: '' }),
      );
      expect(error.statusCode).toBe(401);
      expect(error.code).toBe('InvalidAccessToken');
      expect(error.message).toBe('Provided access token is not valid.');
    }
  });

  it("lists the Teams route's own supported versions", async () => {
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/teamsUser/:exchangeAccessToken?api-version=2023-10-01',
      body: JSON.stringify({ token: teamsUserAadToken, appId, userId }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('api-supported-versions')).toBe(teamsVersions);
  });
});

describe('API 2025-06-30 identities (azure-sdk-assets net GetUserShouldReturnTheCustomId)', () => {
  it('answers create with customId, lastTokenIssuedAt in whole seconds, then id, and GET the same', async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2025-06-30',
      body: JSON.stringify({
        customId: 'alice@contoso.example',
        createTokenWithScopes: ['voip'],
        expiresInMinutes: 120,
      }),
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as {
      identity: { customId: string; lastTokenIssuedAt: string; id: string };
      accessToken: { expiresOn: string };
    };
    expect(Object.keys(created.identity)).toEqual(['customId', 'lastTokenIssuedAt', 'id']);
    expect(created.identity.customId).toBe('alice@contoso.example');
    expect(created.identity.lastTokenIssuedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    expect(Date.parse(created.identity.lastTokenIssuedAt)).toBeGreaterThanOrEqual(before);

    const detail = await signedFetch(emulator, {
      method: 'GET',
      pathAndQuery: `/identities/${encodeURIComponent(created.identity.id)}?api-version=2025-06-30`,
    });
    expect(await detail.json()).toEqual(created.identity);
    expect(detail.headers.get('api-supported-versions')).toBe(identitiesVersions);
  });

  it('shows only the id to earlier versions', async () => {
    const response = await signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: '/identities?api-version=2023-10-01',
      body: JSON.stringify({ createTokenWithScopes: ['voip'] }),
    });
    expect(Object.keys(((await response.json()) as { identity: object }).identity)).toEqual(['id']);
  });
});

describe('repeatable create on API 2023-08-01 (its specification and the ACS repeatable-requests page)', () => {
  const create = (headers: Record<string, string>, body = '{}', version = '2023-08-01') =>
    signedFetch(emulator, {
      method: 'POST',
      pathAndQuery: `/identities?api-version=${version}`,
      body,
      headers,
    });
  const repeatable = (requestId: string, firstSent = new Date().toUTCString()) => ({
    'repeatability-request-id': requestId,
    'repeatability-first-sent': firstSent,
  });
  const idOf = async (response: Response) =>
    ((await response.json()) as { identity: { id: string } }).identity.id;

  it('replays the first answer for a repeated request id instead of creating again', async () => {
    const headers = repeatable(crypto.randomUUID());
    const before = (await stats(emulator)).identities.active;
    const first = await create(headers, '{"createTokenWithScopes":["chat"]}');
    const again = await create(headers, '{"createTokenWithScopes":["chat"]}');
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(first.headers.get('repeatability-result')).toBe('accepted');
    expect(again.headers.get('repeatability-result')).toBe('accepted');
    const [firstBody, againBody] = [await first.text(), await again.text()];
    expect(againBody).toBe(firstBody);
    expect((await stats(emulator)).identities.active).toBe(before + 1);
  });

  it('creates again without the headers, and ignores them on 2023-10-01, which does not define them', async () => {
    const headers = repeatable(crypto.randomUUID());
    const plain = [await idOf(await create({})), await idOf(await create({}))];
    expect(plain[0]).not.toBe(plain[1]);
    const newer = [await create(headers, '{}', '2023-10-01'), await create(headers, '{}', '2023-10-01')];
    expect(newer[0]?.headers.get('repeatability-result')).toBeNull();
    expect(await idOf(newer[0] as Response)).not.toBe(await idOf(newer[1] as Response));
  });

  it.each([
    [
      'a request id that is not a GUID',
      { 'repeatability-request-id': 'abc', 'repeatability-first-sent': new Date().toUTCString() },
      400,
    ],
    ['a request id without a first-sent date', { 'repeatability-request-id': crypto.randomUUID() }, 400],
    [
      'a first-sent date that is not an HTTP date',
      repeatable(crypto.randomUUID(), '2025-01-01T00:00:00Z'),
      400,
    ],
    [
      'a first-sent date outside the 5-minute window',
      repeatable(crypto.randomUUID(), new Date(Date.now() - 6 * 60_000).toUTCString()),
      412,
    ],
  ])('rejects %s', async (_, headers, status) => {
    const response = await create(headers);
    expect(response.status).toBe(status);
    expect(response.headers.get('repeatability-result')).toBe('rejected');
  });

  it('rejects a request id reused for a different request', async () => {
    const headers = repeatable(crypto.randomUUID());
    expect((await create(headers, '{}')).status).toBe(201);
    const reused = await create(headers, '{"createTokenWithScopes":["voip"]}');
    expect(reused.status).toBe(400);
    expect(reused.headers.get('repeatability-result')).toBe('rejected');
  });
});

describe('tokens', () => {
  it('are unique, so one issued in the same second after a revoke leaves the revoked one revoked', async () => {
    const frozenAt = Date.now();
    const frozen = await startEmulator({ clock: () => frozenAt });
    try {
      const sdk = new CommunicationIdentityClient(frozen.connectionString, { allowInsecureConnection: true });
      const user = await sdk.createUser();
      const { token: revoked } = await sdk.getToken(user, ['chat'], { tokenExpiresInMinutes: 60 });
      await sdk.revokeTokens(user);
      const { token: fresh } = await sdk.getToken(user, ['chat'], { tokenExpiresInMinutes: 60 });
      expect(fresh).not.toBe(revoked);
      const introspect = (token: string) =>
        emulatorJson<{ active: boolean; inactiveReason?: string }>(frozen, 'emulator/introspect', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token }),
        });
      expect(await introspect(revoked)).toMatchObject({ active: false, inactiveReason: 'revoked' });
      expect(await introspect(fresh)).toMatchObject({ active: true });
    } finally {
      await frozen.close();
    }
  });
});

describe('authentication before routing', () => {
  it('answers 401, not 405, to a request whose valid signature is for another method and path', async () => {
    const response = await signedFetch(emulator, {
      method: 'GET',
      pathAndQuery: '/identities?api-version=2023-10-01',
      sign: { method: 'POST', pathAndQuery: '/identities?api-version=2023-10-01' },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('api-supported-versions')).toBeNull();
  });

  it('answers 401 to an unsigned request for an unknown path, and 404 or 405 only once authenticated', async () => {
    expect((await fetch(new URL('nothing/here', emulator.endpoint))).status).toBe(401);
    expect((await signedFetch(emulator, { method: 'GET', pathAndQuery: '/nothing/here' })).status).toBe(404);
    expect(
      (await signedFetch(emulator, { method: 'GET', pathAndQuery: '/identities?api-version=2023-10-01' }))
        .status,
    ).toBe(405);
  });
});

describe('a caller that goes away', () => {
  it('still gets its identity created, counted in stats.undelivered, when it gives up before the answer', async () => {
    const slow = await startEmulator({ latencyMs: 400 });
    try {
      const sdk = new CommunicationIdentityClient(slow.connectionString, {
        allowInsecureConnection: true,
        retryOptions: { maxRetries: 0 },
      });
      const error = await rejection(sdk.createUser({ abortSignal: AbortSignal.timeout(100) }));
      expect(error.name).toBe('AbortError');
      // The call goes on after the caller left; its answer is due once the latency has passed.
      let counted = await stats(slow);
      for (
        const until = Date.now() + 5_000;
        counted.undelivered.createIdentity === 0 && Date.now() < until;
      ) {
        counted = await stats(slow);
      }
      expect(counted.operations.createIdentity).toBe(1);
      expect(counted.identities.active).toBe(1);
      expect(counted.undelivered.createIdentity).toBe(1);

      await sdk.createUser();
      const after = await stats(slow);
      expect(after.identities.active).toBe(2);
      expect(after.undelivered.createIdentity).toBe(1);
    } finally {
      await slow.close();
    }
  });
});
