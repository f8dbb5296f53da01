import fc from 'fast-check';
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEV_AUDIENCE, type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import { requestWithHost } from './host-request.js';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let issuer: DevIssuer;
beforeAll(async () => {
  issuer = await startDevIssuer();
});
afterAll(async () => {
  await issuer.close();
});

function verify(token: string, dev: DevIssuer = issuer) {
  return jwtVerify(token, createRemoteJWKSet(new URL(dev.jwksUri)), {
    issuer: dev.issuer,
    audience: dev.audience,
    algorithms: ['RS256'],
  });
}

function postToken(body: string, contentType = 'application/json', dev: DevIssuer = issuer) {
  return fetch(`${dev.issuer}/token`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

async function userToken(body: unknown): Promise<string> {
  const response = await postToken(JSON.stringify(body));
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('dev issuer discovery', () => {
  it('serves an OpenID configuration that points at its own endpoints', async () => {
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(issuer.audience).toBe(DEFAULT_DEV_AUDIENCE);
    const response = await fetch(`${issuer.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({
      issuer: issuer.issuer,
      jwks_uri: issuer.jwksUri,
      token_endpoint: `${issuer.issuer}/token`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
  });

  it('publishes only public RSA signing keys, each with a kid', async () => {
    const { keys } = (await (await fetch(issuer.jwksUri)).json()) as { keys: JWK[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) });
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(secret);
    }
  });
});

describe('dev issuer mint', () => {
  it('signs the requested claims with a published key', async () => {
    const token = await issuer.mint({
      oid: 'o-1',
      sub: 's-1',
      roles: ['Admin'],
      scp: 'tokens.issue',
      name: 'Ann',
    });
    const { payload, protectedHeader } = await verify(token);
    expect(payload).toMatchObject({
      oid: 'o-1',
      sub: 's-1',
      roles: ['Admin'],
      scp: 'tokens.issue',
      name: 'Ann',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: expect.any(String) });
  });

  it('mints expired, not-yet-valid and foreign tokens on request, which verification refuses', async () => {
    const expired = await issuer.mint({ sub: 's' }, { expiresInSeconds: -120 });
    await expect(verify(expired)).rejects.toBeInstanceOf(errors.JWTExpired);

    const early = await issuer.mint({ sub: 's' }, { notBefore: Math.floor(Date.now() / 1000) + 600 });
    await expect(verify(early)).rejects.toThrow(/nbf/);

    const otherAudience = await issuer.mint({ sub: 's' }, { audience: 'api://someone-else' });
    await expect(verify(otherAudience)).rejects.toThrow(/aud/);
    expect((await jwtVerify(otherAudience, createRemoteJWKSet(new URL(issuer.jwksUri)))).payload.aud).toBe(
      'api://someone-else',
    );

    const otherIssuer = await issuer.mint({ sub: 's' }, { issuer: 'https://evil.test' });
    await expect(verify(otherIssuer)).rejects.toThrow(/iss/);
  });

  it('puts an unpublished kid in the header when asked, so the key lookup fails', async () => {
    const token = await issuer.mint({ sub: 's' }, { kid: 'not-published' });
    expect(decodeProtectedHeader(token).kid).toBe('not-published');
    await expect(verify(token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  });
});

describe('dev issuer POST /token', () => {
  it('gives a user token from a JSON body', async () => {
    const response = await postToken(JSON.stringify({ user: 'alice', roles: ['Admin', 'Reader'] }));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });
    const { payload } = await verify(body.access_token as string);
    expect(payload).toMatchObject({ ...devUserIds('alice'), name: 'alice', roles: ['Admin', 'Reader'] });
    expect(payload.aud).toBe(DEFAULT_DEV_AUDIENCE);
  });

  it('gives a user token from a form body, roles repeated or comma-separated', async () => {
    const response = await postToken(
      'user=bob&roles=a,b&roles=c&scp=tokens.issue',
      'application/x-www-form-urlencoded',
    );
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };
    const { payload } = await verify(access_token);
    expect(payload).toMatchObject({
      ...devUserIds('bob'),
      name: 'bob',
      roles: ['a', 'b', 'c'],
      scp: 'tokens.issue',
    });
  });

  it('gives a user the same oid and sub every time and on every issuer, and other users other ids', async () => {
    const another = await startDevIssuer();
    try {
      const first = (await verify(await userToken({ user: 'carol' }))).payload;
      const again = (await verify(await userToken({ user: 'carol' }))).payload;
      const response = await postToken(JSON.stringify({ user: 'carol' }), 'application/json', another);
      const elsewhere = (
        await verify(((await response.json()) as { access_token: string }).access_token, another)
      ).payload;
      const dave = (await verify(await userToken({ user: 'dave' }))).payload;

      for (const payload of [again, elsewhere]) {
        expect({ oid: payload.oid, sub: payload.sub }).toEqual({ oid: first.oid, sub: first.sub });
      }
      expect(first.oid).toMatch(UUID_V5);
      expect(first.sub).toMatch(UUID_V5);
      expect(first.oid).not.toBe(first.sub);
      expect(dave.oid).not.toBe(first.oid);
      expect(dave.sub).not.toBe(first.sub);
    } finally {
      await another.close();
    }
  });

  it.each([
    ['invalid JSON', '{"user":', 'application/json'],
    ['no user', '{"roles":["a"]}', 'application/json'],
    ['an empty user', '{"user":"  "}', 'application/json'],
    ['a user that is not a string', '{"user":42}', 'application/json'],
    ['roles that are not a list', '{"user":"a","roles":"Admin"}', 'application/json'],
    ['an unknown field', '{"user":"a","admin":true}', 'application/json'],
    ['null', 'null', 'application/json'],
    ['an array', '[{"user":"a"}]', 'application/json'],
    ['an empty body', '', 'application/json'],
    ['a form without a user', 'roles=a', 'application/x-www-form-urlencoded'],
    ['a form with the user twice', 'user=a&user=b', 'application/x-www-form-urlencoded'],
  ])('answers 400 JSON to %s', async (_case, body, contentType) => {
    const response = await postToken(body, contentType);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.any(String),
    });
  });

  it('names the invalid field', async () => {
    const response = await postToken('{"user":"a","roles":[1]}');
    expect(await response.json()).toMatchObject({
      fields: [{ field: 'roles.0', message: expect.any(String) }],
    });
  });

  it('answers 415, 413, 405 and 404 with JSON errors', async () => {
    const cases: [Promise<Response>, number][] = [
      [postToken('user=a', 'text/plain'), 415],
      [postToken(JSON.stringify({ user: 'a'.repeat(20_000) })), 413],
      [fetch(`${issuer.issuer}/token`), 405],
      [fetch(`${issuer.issuer}/nope`), 404],
    ];
    for (const [pending, status] of cases) {
      const response = await pending;
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ error: expect.any(String) });
    }
  });

  it('never answers anything but 200 or 400 to any JSON body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const response = await postToken(JSON.stringify(value));
        expect([200, 400]).toContain(response.status);
        await response.json();
      }),
      { numRuns: 60 },
    );
  });
});

describe('dev issuer key rotation', () => {
  it('signs with the new key and keeps tokens of the old key verifying', async () => {
    const dev = await startDevIssuer({ audience: 'api://rotation' });
    try {
      const jwksBeforeRotation = createRemoteJWKSet(new URL(dev.jwksUri), { cooldownDuration: 0 });
      const before = await dev.mint({ sub: 'before' });
      await jwtVerify(before, jwksBeforeRotation);

      await dev.rotateKey();
      const after = await dev.mint({ sub: 'after' });
      expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);

      const { keys } = (await (await fetch(dev.jwksUri)).json()) as { keys: JWK[] };
      expect(keys.map((key) => key.kid)).toEqual([
        decodeProtectedHeader(before).kid,
        decodeProtectedHeader(after).kid,
      ]);
      for (const token of [before, after]) await expect(verify(token, dev)).resolves.toBeDefined();
      // A verifier that cached the old key set finds the new kid by refetching.
      await expect(jwtVerify(after, jwksBeforeRotation)).resolves.toBeDefined();

      expect(
        decodeProtectedHeader(await dev.mint({ sub: 'old' }, { kid: decodeProtectedHeader(before).kid })),
      ).toEqual(decodeProtectedHeader(before));
    } finally {
      await dev.close();
    }
  });
});

describe('dev issuer Host check', () => {
  it('answers loopback Host values and refuses others (DNS rebinding) with 400 before minting', async () => {
    const url = `${issuer.issuer}/token`;
    const post = (host: string) =>
      requestWithHost(url, host, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'rebound', roles: ['TokenAdmin'] }),
      });
    expect((await post('localhost:1')).status).toBe(200);
    for (const host of ['rebind.attacker.example', `rebind.attacker.example:${new URL(url).port}`]) {
      const refused = await post(host);
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.text)).toMatchObject({ error: 'invalid_host' });
      expect(refused.text).not.toContain('access_token');
    }
    expect((await requestWithHost(issuer.jwksUri, 'evil.example')).status).toBe(400);
  });
});
