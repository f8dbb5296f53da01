import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DevIssuer, startDevIssuer } from '../../../dev/dev-issuer.js';
import type { TrustedIssuer } from '../../../src/caller/issuers.js';
import {
  CLOCK_TOLERANCE_SECONDS,
  createJwtValidator,
  type JwtValidatorOptions,
  readBearerToken,
  VERIFIED_TOKEN_MAX_AGE_MS,
} from '../../../src/caller/jwt.js';
import { AuthenticationError, KeysUnavailableError } from '../../../src/shared/errors.js';

/** A validator trusting this one issuer (AUTH_ISSUER and AUTH_AUDIENCE, as a one-entry list). */
const singleIssuerValidator = (entry: TrustedIssuer, options?: JwtValidatorOptions) =>
  createJwtValidator({ issuers: [entry] }, options);

/** A real HTTP hop in front of the issuer's JWKS that counts fetches, can go down and can serve another key set. */
async function startKeysRelay(initialTarget: string) {
  let target = initialTarget;
  let fetches = 0;
  let down = false;
  const server: Server = createServer(async (_request, response) => {
    fetches++;
    if (down) {
      response.destroy();
      return;
    }
    const upstream = await fetch(target);
    response.writeHead(upstream.status, { 'content-type': 'application/json' });
    response.end(await upstream.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/keys`,
    fetches: () => fetches,
    setDown: (value: boolean) => {
      down = value;
    },
    setTarget: (value: string) => {
      target = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the token to be refused');
    },
    (error: unknown) => error,
  );
}

async function refusal(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

let issuer: DevIssuer;
let config: TrustedIssuer;
beforeAll(async () => {
  issuer = await startDevIssuer();
  config = { issuer: issuer.issuer, audiences: [issuer.audience], jwksUri: issuer.jwksUri, userClaim: 'oid' };
});
afterAll(() => issuer.close());
afterEach(() => {
  vi.useRealTimers();
});

describe('readBearerToken', () => {
  it('accepts exactly one Bearer token in compact JWS form', () => {
    expect(readBearerToken(new Headers({ authorization: 'Bearer a.b.c' }))).toBe('a.b.c');
    expect(readBearerToken(new Headers({ authorization: 'bearer a.b.c' }))).toBe('a.b.c');
  });

  it('refuses a missing header as "no token" and anything else as an invalid token', () => {
    expect(() => readBearerToken(new Headers())).toThrow(expect.objectContaining({ tokenSent: false }));
    for (const value of [
      'Basic dXNlcjpwdw==',
      'Bearer',
      'Bearer a.b',
      'Bearer a.b.c, Bearer d.e.f',
      'Bearer a.b.c d',
      `Bearer ${'a'.repeat(20_000)}.b.c`,
    ]) {
      expect(() => readBearerToken(new Headers({ authorization: value }))).toThrow(
        expect.objectContaining({ reason: 'malformed_authorization_header', tokenSent: true }),
      );
    }
  });
});

describe('createJwtValidator', () => {
  it('verifies a token from the issuer and builds the principal from its claims', async () => {
    const validator = singleIssuerValidator(config);
    const token = await issuer.mint({
      oid: 'oid-1',
      sub: 'sub-1',
      roles: ['admin', 7] as never,
      scp: 'Token.Issue  other',
    });
    await expect(validator.authenticate(bearer(token))).resolves.toEqual({
      issuer: issuer.issuer,
      userId: 'oid-1',
      roles: ['admin'],
      scopes: ['Token.Issue', 'other'],
      oid: 'oid-1',
      anonymous: false,
    });
  });

  it('reads the configured user claim, e.g. sub for non-Entra issuers', async () => {
    const validator = singleIssuerValidator({ ...config, userClaim: 'sub' });
    const principal = await validator.authenticate(bearer(await issuer.mint({ oid: 'oid-1', sub: 'sub-1' })));
    expect(principal.userId).toBe('sub-1');
  });

  it('accepts any of several audiences', async () => {
    const validator = singleIssuerValidator({ ...config, audiences: ['api://other', issuer.audience] });
    await expect(validator.authenticate(bearer(await issuer.mint({ oid: 'u' })))).resolves.toBeTruthy();
  });

  it('finds the keys by OpenID discovery when no JWKS URI is configured', async () => {
    const validator = singleIssuerValidator({ ...config, jwksUri: undefined });
    await expect(validator.authenticate(bearer(await issuer.mint({ oid: 'u' })))).resolves.toMatchObject({
      userId: 'u',
    });
  });

  it('tolerates small clock skew only', async () => {
    const validator = singleIssuerValidator(config);
    await expect(
      validator.authenticate(bearer(await issuer.mint({ oid: 'u' }, { expiresInSeconds: -30 }))),
    ).resolves.toBeTruthy();
    const expired = await refusal(
      validator.authenticate(bearer(await issuer.mint({ oid: 'u' }, { expiresInSeconds: -120 }))),
    );
    expect(expired.reason).toBe('ERR_JWT_EXPIRED');
    const early = await refusal(
      validator.authenticate(
        bearer(await issuer.mint({ oid: 'u' }, { notBefore: Math.floor(Date.now() / 1000) + 600 })),
      ),
    );
    expect(early.reason).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  it('refuses wrong issuer, wrong audience and a missing user claim', async () => {
    const validator = singleIssuerValidator(config);
    const cases = [
      await issuer.mint({ oid: 'u' }, { issuer: 'https://evil.example' }),
      await issuer.mint({ oid: 'u' }, { audience: 'api://another-api' }),
      await issuer.mint({ sub: 'only-sub' }),
      await issuer.mint({ oid: '' }),
    ];
    for (const token of cases) {
      const error = await refusal(validator.authenticate(bearer(token)));
      expect(error.tokenSent).toBe(true);
    }
  });

  it('refuses a blank user claim (only whitespace) and one over 1,024 characters, naming why; serves . and lone surrogates', async () => {
    const validator = singleIssuerValidator(config);
    for (const [oid, reason] of [
      [' ', 'user_claim_blank'],
      ['\t\n\u00a0\u3000\ufeff', 'user_claim_blank'],
      ['x'.repeat(1025), 'user_claim_too_long'],
    ] as const) {
      const error = await refusal(validator.authenticate(bearer(await issuer.mint({ oid }))));
      expect(error).toMatchObject({ reason, tokenSent: true });
    }
    for (const oid of ['x'.repeat(1024), '.', '..', 'a\uD800b', ' padded ']) {
      await expect(validator.authenticate(bearer(await issuer.mint({ oid })))).resolves.toMatchObject({
        userId: oid,
      });
    }
  });

  it('refuses alg none, HS256 keyed with the public key, a foreign key and a tampered payload', async () => {
    const validator = singleIssuerValidator(config);
    const genuine = await issuer.mint({ oid: 'u' });
    const [header, payload] = genuine.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));

    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`;
    expect((await refusal(validator.authenticate(bearer(none)))).reason).toBe(
      'malformed_authorization_header',
    );
    const noneSigned = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${payload}.c2ln`;
    expect((await refusal(validator.authenticate(bearer(noneSigned)))).reason).toBe(
      'ERR_JOSE_ALG_NOT_ALLOWED',
    );

    const keys = (await (await fetch(issuer.jwksUri)).json()) as { keys: { kid: string }[] };
    const publicKey = keys.keys[0]!;
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: publicKey.kid })
      .sign(new TextEncoder().encode(JSON.stringify(publicKey)));
    expect((await refusal(validator.authenticate(bearer(hs256)))).reason).toBe('ERR_JOSE_ALG_NOT_ALLOWED');

    const foreign = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: publicKey.kid })
      .sign(foreign.privateKey);
    expect((await refusal(validator.authenticate(bearer(forged)))).reason).toBe(
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );

    const tampered = `${header}.${base64url.encode(JSON.stringify({ ...claims, oid: 'someone-else' }))}.${genuine.split('.')[2]}`;
    expect((await refusal(validator.authenticate(bearer(tampered)))).reason).toBe(
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );
  });

  it('refetches the key set for an unknown kid at most once per cool-down, and then trusts rotated keys', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const relay = await startKeysRelay(issuer.jwksUri);
    const rotating = await startDevIssuer();
    const rotatingRelay = await startKeysRelay(rotating.jwksUri);
    try {
      const validator = singleIssuerValidator(
        {
          issuer: rotating.issuer,
          audiences: [rotating.audience],
          jwksUri: rotatingRelay.uri,
          userClaim: 'oid',
        },
        { cooldownMs: 30_000 },
      );
      await validator.authenticate(bearer(await rotating.mint({ oid: 'u' })));
      expect(rotatingRelay.fetches()).toBe(1);

      for (let attempt = 0; attempt < 5; attempt++) {
        await refusal(
          validator.authenticate(bearer(await rotating.mint({ oid: 'u' }, { kid: `unknown-${attempt}` }))),
        );
      }
      expect(rotatingRelay.fetches()).toBe(1);

      vi.setSystemTime(Date.now() + 31_000);
      await refusal(
        validator.authenticate(bearer(await rotating.mint({ oid: 'u' }, { kid: 'unknown-late' }))),
      );
      await refusal(
        validator.authenticate(bearer(await rotating.mint({ oid: 'u' }, { kid: 'unknown-later' }))),
      );
      expect(rotatingRelay.fetches()).toBe(2);

      await rotating.rotateKey();
      const rotated = await rotating.mint({ oid: 'u' });
      await refusal(validator.authenticate(bearer(rotated)));
      expect(rotatingRelay.fetches()).toBe(2);
      vi.setSystemTime(Date.now() + 31_000);
      await expect(validator.authenticate(bearer(rotated))).resolves.toMatchObject({ userId: 'u' });
      expect(rotatingRelay.fetches()).toBe(3);
    } finally {
      await relay.close();
      await rotatingRelay.close();
      await rotating.close();
    }
  });

  it('keeps verifying with cached keys while the key set endpoint is down; an unknown kid is then a 401', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const relay = await startKeysRelay(issuer.jwksUri);
    try {
      const validator = singleIssuerValidator(
        { ...config, jwksUri: relay.uri },
        { cooldownMs: 1_000, cacheMaxAgeMs: 60_000 },
      );
      await validator.authenticate(bearer(await issuer.mint({ oid: 'u' })));
      relay.setDown(true);
      vi.setSystemTime(Date.now() + 120_000);
      await expect(validator.authenticate(bearer(await issuer.mint({ oid: 'u' })))).resolves.toMatchObject({
        userId: 'u',
      });
      expect(relay.fetches()).toBe(2);
      vi.setSystemTime(Date.now() + 2_000);
      const unknown = await refusal(
        validator.authenticate(bearer(await issuer.mint({ oid: 'u' }, { kid: 'nope' }))),
      );
      expect(unknown.reason).toBe('ERR_JWKS_NO_MATCHING_KEY');
    } finally {
      await relay.close();
    }
  });

  it('reports keys as unavailable (not an invalid token) when they were never fetched', async () => {
    const relay = await startKeysRelay(issuer.jwksUri);
    relay.setDown(true);
    try {
      const validator = singleIssuerValidator({ ...config, jwksUri: relay.uri });
      const error = await failureOf(validator.authenticate(bearer(await issuer.mint({ oid: 'u' }))));
      expect(error).toBeInstanceOf(KeysUnavailableError);
    } finally {
      await relay.close();
    }
  });

  it('does not fetch anything for a token refused before signature checks', async () => {
    const relay = await startKeysRelay(issuer.jwksUri);
    try {
      const validator = singleIssuerValidator({ ...config, jwksUri: relay.uri });
      const payload = base64url.encode(
        JSON.stringify({ iss: issuer.issuer, aud: issuer.audience, oid: 'u' }),
      );
      await refusal(validator.authenticate(bearer(`${base64url.encode('{"alg":"HS256"}')}.${payload}.c2ln`)));
      expect(relay.fetches()).toBe(0);
    } finally {
      await relay.close();
    }
  });
});

describe('the verified-token cache', () => {
  it('accepts a token it verified without checking it again, for at most the cache window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const replacement = await startDevIssuer();
    const relay = await startKeysRelay(issuer.jwksUri);
    try {
      const options = { cooldownMs: 1_000, cacheMaxAgeMs: 10_000 };
      const validator = singleIssuerValidator({ ...config, jwksUri: relay.uri }, options);
      const token = await issuer.mint({ oid: 'cached-user', scp: 'Token.Issue' });
      const principal = await validator.authenticate(bearer(token));
      expect(relay.fetches()).toBe(1);

      // The issuer's key leaves the published set, and the validator learns it: a new token of the issuer with an
      // unknown kid refetches the set and is refused.
      relay.setTarget(replacement.jwksUri);
      vi.setSystemTime(Date.now() + 60_000);
      const unknownKid = await refusal(
        validator.authenticate(bearer(await issuer.mint({ oid: 'cached-user' }, { kid: 'gone' }))),
      );
      expect(unknownKid.reason).toBe('ERR_JWKS_NO_MATCHING_KEY');
      expect(relay.fetches()).toBe(2);
      // Any token that needs verifying is now refused, even a new one signed with the issuer's (removed) key...
      const fresh = await issuer.mint({ oid: 'cached-user', scp: 'Token.Issue' });
      expect((await refusal(validator.authenticate(bearer(fresh)))).reason).toBe('ERR_JWKS_NO_MATCHING_KEY');
      const uncached = singleIssuerValidator({ ...config, jwksUri: relay.uri }, options);
      await refusal(uncached.authenticate(bearer(token)));

      // ...but the token already verified is accepted as before, with no key-set fetch, within the window.
      const fetchesBefore = relay.fetches();
      vi.setSystemTime(Date.now() + VERIFIED_TOKEN_MAX_AGE_MS - 60_000 - 1_000);
      await expect(validator.authenticate(bearer(token))).resolves.toEqual(principal);
      expect(relay.fetches()).toBe(fetchesBefore);

      // Past the window it is verified again, and refused since its key is gone.
      vi.setSystemTime(Date.now() + 2_000);
      expect((await refusal(validator.authenticate(bearer(token)))).reason).toBe('ERR_JWKS_NO_MATCHING_KEY');
    } finally {
      await relay.close();
      await replacement.close();
    }
  });

  it('never accepts a token past its exp (and the clock tolerance) from the cache', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const validator = singleIssuerValidator(config);
    const token = await issuer.mint({ oid: 'short-lived' }, { expiresInSeconds: 2 });
    await expect(validator.authenticate(bearer(token))).resolves.toMatchObject({ userId: 'short-lived' });
    vi.setSystemTime(Date.now() + (2 + CLOCK_TOLERANCE_SECONDS + 1) * 1000);
    expect((await refusal(validator.authenticate(bearer(token)))).reason).toBe('ERR_JWT_EXPIRED');
  });

  it('does not take a tampered token for the verified one', async () => {
    const validator = singleIssuerValidator(config);
    const genuine = await issuer.mint({ oid: 'victim' });
    await validator.authenticate(bearer(genuine));
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
    const tampered = `${header}.${base64url.encode(JSON.stringify({ ...claims, oid: 'attacker' }))}.${signature}`;
    expect((await refusal(validator.authenticate(bearer(tampered)))).reason).toBe(
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );
    await expect(validator.authenticate(bearer(genuine))).resolves.toMatchObject({ userId: 'victim' });
  });

  it('does not keep failures: a token refused once is checked again on its next attempt', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const relay = await startKeysRelay(issuer.jwksUri);
    try {
      const validator = singleIssuerValidator({ ...config, jwksUri: relay.uri }, { cooldownMs: 1_000 });
      const notYetValid = await issuer.mint(
        { oid: 'early' },
        { notBefore: Math.floor(Date.now() / 1000) + CLOCK_TOLERANCE_SECONDS + 30 },
      );
      expect((await refusal(validator.authenticate(bearer(notYetValid)))).reason).toBe(
        'ERR_JWT_CLAIM_VALIDATION_FAILED',
      );
      vi.setSystemTime(Date.now() + 31_000);
      await expect(validator.authenticate(bearer(notYetValid))).resolves.toMatchObject({ userId: 'early' });

      relay.setDown(true);
      const unreachable = singleIssuerValidator({ ...config, jwksUri: relay.uri }, { cooldownMs: 1_000 });
      const token = await issuer.mint({ oid: 'later' });
      expect(await failureOf(unreachable.authenticate(bearer(token)))).toBeInstanceOf(KeysUnavailableError);
      relay.setDown(false);
      vi.setSystemTime(Date.now() + 2_000);
      await expect(unreachable.authenticate(bearer(token))).resolves.toMatchObject({ userId: 'later' });
    } finally {
      await relay.close();
    }
  });

  it('hands each request its own copy of the principal', async () => {
    const validator = singleIssuerValidator(config);
    const token = await issuer.mint({ oid: 'copied', roles: ['reader'] });
    const first = await validator.authenticate(bearer(token));
    first.roles.push('admin');
    await expect(validator.authenticate(bearer(token))).resolves.toMatchObject({ roles: ['reader'] });
  });
});

describe('createJwtValidator with several issuers', () => {
  const tenant1 = '11111111-1111-4111-8111-111111111111';
  const tenant2 = '22222222-2222-4222-8222-222222222222';

  /** Serves the dev issuer's JWKS at any path over real HTTP, recording the paths asked for. */
  async function startPathRecordingKeys() {
    const paths: string[] = [];
    const server: Server = createServer(async (request, response) => {
      paths.push(request.url ?? '');
      const upstream = await fetch(issuer.jwksUri);
      response.writeHead(200, { 'content-type': 'application/json' }).end(await upstream.text());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      base: `http://127.0.0.1:${port}`,
      paths,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }

  it('fills a template key-set URL with the token’s tenant, and fetches no keys for a token it refuses', async () => {
    const keys = await startPathRecordingKeys();
    try {
      const template = `${issuer.issuer}/{tenantid}/v2.0`;
      const validator = createJwtValidator({
        issuers: [
          {
            issuer: template,
            audiences: ['api://multi'],
            jwksUri: `${keys.base}/{tenantid}/keys`,
            userClaim: 'oid',
            tenants: [tenant1],
          },
          {
            issuer: 'https://open.example/{tenantid}/',
            audiences: ['api://open'],
            jwksUri: `${keys.base}/open`,
            userClaim: 'sub',
            tenants: '*',
          },
        ],
      });
      const mint = (tid: string | undefined, iss: string, audience = 'api://multi') =>
        issuer.mint({ oid: 'o', sub: 's', ...(tid ? { tid } : {}) }, { issuer: iss, audience });
      const refused: [string, string][] = [
        [await mint(tenant2, `${issuer.issuer}/${tenant2}/v2.0`), 'tenant_not_allowed'],
        [await mint(tenant2, `${issuer.issuer}/${tenant1}/v2.0`), 'issuer_tenant_mismatch'],
        [await mint(undefined, `${issuer.issuer}/${tenant1}/v2.0`), 'tenant_missing'],
        [await mint(undefined, issuer.issuer), 'issuer_not_trusted'],
        [await mint('contoso', 'https://open.example/contoso/', 'api://open'), 'tenant_not_allowed'],
      ];
      for (const [token, reason] of refused) {
        expect((await refusal(validator.authenticate(bearer(token)))).reason).toBe(reason);
      }
      expect(keys.paths).toEqual([]);

      await expect(
        validator.authenticate(bearer(await mint(tenant1, `${issuer.issuer}/${tenant1}/v2.0`))),
      ).resolves.toMatchObject({ issuer: `${issuer.issuer}/${tenant1}/v2.0`, userId: 'o' });
      await expect(
        validator.authenticate(bearer(await mint(tenant2, `https://open.example/${tenant2}/`, 'api://open'))),
      ).resolves.toMatchObject({ issuer: `https://open.example/${tenant2}/`, userId: 's' });
      expect(keys.paths).toEqual([`/${tenant1}/keys`, '/open']);
    } finally {
      await keys.close();
    }
  });
});
