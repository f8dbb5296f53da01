import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  base64url,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import {
  authorization,
  FULL,
  Ledger,
  problemViolations,
  type RawRequest,
  type RawResponse,
  routeEndpoints,
  type SecureService,
  startSecureService,
  uniqueUser,
} from './harness.js';

const ledger = new Ledger('authentication-attacks');
let service: SecureService;
/** Every (method, path) of the route table that answers a request without a token with 401. */
const guarded: { method: string; path: string }[] = [];

beforeAll(async () => {
  service = await startSecureService(ledger);
  for (const { method, path } of routeEndpoints()) {
    if ((await service.send({ method, path })).status === 401) guarded.push({ method, path });
  }
});

afterAll(async () => {
  await service?.close();
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
  expect(figures.acsCallsByRejected).toBe(0);
});

const victim = uniqueUser('victim');
const claimsOf = (user: string) => ({ ...devUserIds(user), name: user });

function encodeSegment(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1]!))) as Record<
    string,
    unknown
  >;
}

/** A request shape an attack sends to every guarded endpoint: extra headers and a query suffix. */
interface Attack {
  headers?: Record<string, string | string[]>;
  query?: string;
}

/**
 * Sends the attack to every guarded endpoint and proves each answer is a 401 problem with a Bearer challenge, and
 * that no ACS call happened meanwhile (the emulator's own counters, which count every call it receives).
 */
async function expectRefusedEverywhere(attack: Attack, expectedStatuses: readonly number[] = [401]) {
  const before = await service.acsActivity();
  const answers: { endpoint: string; response: RawResponse }[] = [];
  for (const { method, path } of guarded) {
    const request: RawRequest = {
      method,
      path: `${path}${attack.query ?? ''}`,
      headers: attack.headers ?? {},
    };
    answers.push({ endpoint: `${method} ${path}`, response: await service.send(request) });
  }
  for (const { endpoint, response } of answers) {
    expect(expectedStatuses, `${endpoint} answered ${response.status}`).toContain(response.status);
    if (response.status === 401) {
      expect(problemViolations(response), endpoint).toEqual([]);
      expect(String(response.headers['www-authenticate'])).toMatch(/^Bearer\b/);
      expect(response.text).not.toMatch(/eyJ[\w-]+\./);
    }
  }
  expect(await service.acsActivity(), 'ACS calls made by refused requests').toBe(before);
}

describe('authentication attacks: 401 on every guarded route, and not one ACS call', () => {
  it('covers every route of the table that needs a caller, the token routes included', () => {
    expect(guarded).toEqual(
      expect.arrayContaining([
        { method: 'POST', path: '/api/token' },
        { method: 'GET', path: '/api/token' },
        { method: 'POST', path: '/api/token/teams' },
        { method: 'GET', path: '/api/identity' },
        { method: 'DELETE', path: '/api/identity' },
        { method: 'POST', path: '/api/identity/revoke' },
        { method: 'POST', path: '/api/admin/users/sample-user/revoke' },
        { method: 'DELETE', path: '/api/admin/users/sample-user' },
      ]),
    );
  });

  it('a genuine token passes (the control every attack below differs from in one way)', async () => {
    const response = await service.send({
      method: 'POST',
      path: '/api/token',
      headers: authorization(await service.callerToken(victim)),
    });
    expect(response.status).toBe(200);
  });

  it('no token', async () => {
    await expectRefusedEverywhere({});
    const response = await service.send({ method: 'POST', path: '/api/token' });
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it('a scheme other than Bearer, and a bare token', async () => {
    const token = await service.callerToken(victim);
    await expectRefusedEverywhere({
      headers: { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    });
    await expectRefusedEverywhere({ headers: { Authorization: token } });
    await expectRefusedEverywhere({ headers: { Authorization: `Bearer ${token} extra` } });
  });

  it('alg none, with and without a signature', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = encodeSegment({
      ...claimsOf(victim),
      iss: service.issuer.issuer,
      aud: service.issuer.audience,
      iat: now,
      exp: now + 600,
    });
    for (const alg of ['none', 'None', 'NONE']) {
      const header = encodeSegment({ alg, typ: 'JWT' });
      await expectRefusedEverywhere({ headers: authorization(`${header}.${payload}.`) });
      await expectRefusedEverywhere({ headers: authorization(`${header}.${payload}.AAAA`) });
    }
  });

  it('HS256 keyed with the issuer public key (as PEM, as JWK and as raw modulus)', async () => {
    const jwks = (await (await fetch(service.issuer.jwksUri)).json()) as { keys: Record<string, string>[] };
    const published = jwks.keys[0]!;
    const publicKey = await importJWK(published, 'RS256');
    const secrets = [
      new TextEncoder().encode(await exportSPKI(publicKey as Parameters<typeof exportSPKI>[0])),
      new TextEncoder().encode(JSON.stringify(published)),
      base64url.decode(published.n!),
    ];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const forged = await new SignJWT(claimsOf(victim))
          .setProtectedHeader({ alg, typ: 'JWT', kid: published.kid! })
          .setIssuer(service.issuer.issuer)
          .setAudience(service.issuer.audience)
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(secret);
        await expectRefusedEverywhere({
          headers: authorization(ledger.capture.secret('forged JWT', forged)),
        });
      }
    }
  });

  it('a key that is not in the JWKS, under the published kid and under its own', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const publishedKid = decodeProtectedHeader(await service.callerToken(victim)).kid!;
    const ownKid = (await exportJWK(publicKey)).n!.slice(0, 16);
    for (const kid of [publishedKid, ownKid]) {
      const forged = await new SignJWT(claimsOf(victim))
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .setIssuer(service.issuer.issuer)
        .setAudience(service.issuer.audience)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
      await expectRefusedEverywhere({ headers: authorization(ledger.capture.secret('forged JWT', forged)) });
    }
  });

  it('a foreign key embedded in the header (jwk) or served from a URL the token names (jku, x5u)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = await exportJWK(publicKey);
    const keyServer = `http://127.0.0.1:1/keys`;
    for (const header of [{ jwk }, { jku: keyServer, kid: 'attacker' }, { x5u: keyServer }]) {
      const forged = await new SignJWT(claimsOf(victim))
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...header })
        .setIssuer(service.issuer.issuer)
        .setAudience(service.issuer.audience)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
      await expectRefusedEverywhere({ headers: authorization(ledger.capture.secret('forged JWT', forged)) });
    }
  });

  it('an unknown kid', async () => {
    const token = await service.issuer.mint(claimsOf(victim), { kid: 'unknown-signing-key' });
    await expectRefusedEverywhere({ headers: authorization(token) });
  });

  it('a tampered payload (another user, added roles, extended expiry) under a genuine signature', async () => {
    const attacker = uniqueUser('attacker');
    const genuine = await service.callerToken(attacker);
    const [header, , signature] = genuine.split('.') as [string, string, string];
    const original = payloadOf(genuine);
    const tamperings = [
      { ...original, oid: devUserIds(victim).oid },
      { ...original, roles: ['TokenAdmin'] },
      { ...original, exp: (original.exp as number) + 86_400 },
    ];
    for (const payload of tamperings) {
      await expectRefusedEverywhere({
        headers: authorization(`${header}.${encodeSegment(payload)}.${signature}`),
      });
    }
  });

  it('expired, beyond the clock tolerance', async () => {
    const token = await service.callerToken(victim, {}, { expiresInSeconds: -600 });
    await expectRefusedEverywhere({ headers: authorization(token) });
  });

  it('nbf in the future, beyond the clock tolerance', async () => {
    const token = await service.callerToken(victim, {}, { notBefore: Math.floor(Date.now() / 1000) + 3600 });
    await expectRefusedEverywhere({ headers: authorization(token) });
  });

  it('a wrong iss, signed with the genuine key', async () => {
    for (const issuer of [
      'https://login.evil.example/',
      `${service.issuer.issuer}/`,
      service.issuer.issuer.toUpperCase(),
    ]) {
      await expectRefusedEverywhere({
        headers: authorization(await service.callerToken(victim, {}, { issuer })),
      });
    }
  });

  it('a wrong aud, and a token from the right issuer meant for another API', async () => {
    await expectRefusedEverywhere({
      headers: authorization(
        await service.callerToken(victim, {}, { audience: 'api://some-other-audience' }),
      ),
    });
    const forGraph = await service.callerToken(
      victim,
      { scp: 'User.Read Mail.Read' },
      { audience: 'https://graph.microsoft.com' },
    );
    await expectRefusedEverywhere({ headers: authorization(forGraph) });
    const noAudience = await service.callerToken(victim, {}, { audience: [] });
    await expectRefusedEverywhere({ headers: authorization(noAudience) });
  });

  it('the user claim missing, empty or not a string', async () => {
    const name = uniqueUser('claimless');
    const { sub } = devUserIds(name);
    for (const claims of [
      { sub, name },
      { sub, oid: '' },
      { sub, oid: 42 },
      { sub, oid: ['a', 'b'] },
    ]) {
      const token = await service.issuer.mint(claims as Parameters<DevIssuer['mint']>[0]);
      await expectRefusedEverywhere({ headers: authorization(token) });
    }
  });

  it('a genuine token sent as a query parameter instead of the header', async () => {
    const token = await service.callerToken(victim);
    for (const name of ['access_token', 'token', 'code', 'authorization']) {
      await expectRefusedEverywhere({ query: `?${name}=${encodeURIComponent(token)}` });
    }
  });

  it('two Authorization headers, even when both hold genuine tokens', async () => {
    const mine = await service.callerToken(victim);
    const other = await service.callerToken(uniqueUser('other'));
    await expectRefusedEverywhere({ headers: { Authorization: [`Bearer ${mine}`, `Bearer ${other}`] } });
    await expectRefusedEverywhere({ headers: { Authorization: [`Bearer ${mine}`, 'Bearer x.y.z'] } });
    await expectRefusedEverywhere({ headers: { Authorization: [`Bearer ${mine}`, `Bearer ${mine}`] } });
  });

  it('an oversized Authorization header: refused by the app below the host header limit, by the host above it', async () => {
    const genuine = await service.callerToken(victim);
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    const padded = `${header}.${payload}${'A'.repeat(14_000)}.${signature}`;
    await expectRefusedEverywhere({ headers: authorization(padded) });
    await expectRefusedEverywhere({ headers: authorization('x'.repeat(14_000)) });
    // Beyond the host's header limit the host answers (431 here, as Kestrel does) before any function runs.
    await expectRefusedEverywhere({ headers: authorization('A'.repeat(70_000)) }, [401, 431]);
  });

  it('a token with a bad signature encoding, extra segments, or JWE form', async () => {
    const genuine = await service.callerToken(victim);
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    for (const token of [
      `${header}.${payload}.${signature.slice(0, -4)}`,
      `${header}.${payload}.${signature}.extra`,
      `${header}..${signature}`,
      `${header}.${payload}.${signature}.a.b`,
      `${encodeSegment({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`,
    ]) {
      await expectRefusedEverywhere({ headers: authorization(token) });
    }
  });
});

describe('guessing tokens is throttled per client address', () => {
  it('refuses an address with 429 + Retry-After once its failed authentications exceed the limit, with no ACS call; a forged X-Forwarded-For does not escape it', async () => {
    const limited = await startSecureService(ledger, { env: { RATE_LIMIT_PER_MINUTE: '5' } });
    try {
      const activity = await limited.acsActivity();
      // Distinct loopback source addresses are distinct clients: the host appends each to X-Forwarded-For.
      const guess = (localAddress: string, forwardedFor?: string) =>
        limited.send({
          method: 'POST',
          path: '/api/token',
          localAddress,
          headers: {
            ...authorization('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.Z3Vlc3M'),
            ...(forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {}),
          },
        });
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 8; attempt++) statuses.push((await guess('127.0.0.7')).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      const forged = await guess('127.0.0.7', '198.51.100.23, 198.51.100.24:4000');
      expect(forged.status).toBe(429);
      expect(forged.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(problemViolations(forged)).toEqual([]);
      // Another address is not punished for the attacker's guesses.
      expect((await guess('127.0.0.20')).status).toBe(401);
      expect(await limited.acsActivity()).toBe(activity);
    } finally {
      await limited.close();
    }
  });
});

describe('the failed-authentication limit holds under concurrency', () => {
  it(`verifies at most RATE_LIMIT_PER_MINUTE bad tokens from one address when ${FULL ? 400 : 100} arrive at once`, async () => {
    // A key set that answers slowly, and a kid it does not hold with cool-down 0: every verification waits for a
    // refetch, so hundreds overlap, the window in which a limit spent only after the 401 let 184 of 400 through.
    const issuer = await startDevIssuer();
    const slowKeys = createServer((_request, response) => {
      setTimeout(async () => {
        const upstream = await fetch(issuer.jwksUri);
        response
          .writeHead(upstream.status, { 'content-type': 'application/json' })
          .end(await upstream.text());
      }, 400);
    });
    slowKeys.listen(0, '127.0.0.1');
    await once(slowKeys, 'listening');
    const limited = await startSecureService(ledger, {
      issuer,
      env: {
        RATE_LIMIT_PER_MINUTE: '10',
        AUTH_JWKS_URI: `http://127.0.0.1:${(slowKeys.address() as AddressInfo).port}/keys`,
      },
      jwt: { cooldownMs: 0 },
    });
    try {
      const user = uniqueUser('forged');
      const genuine = await limited.callerToken(user);
      const forged = await limited.callerToken(user, {}, { kid: 'not-published' });
      const answers = await Promise.all(
        Array.from({ length: FULL ? 400 : 100 }, () =>
          limited.send({
            method: 'POST',
            path: '/api/token',
            localAddress: '127.0.0.9',
            headers: authorization(forged),
            timeoutMs: 60_000,
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      const verified = statuses.filter((status) => status === 401).length;
      ledger.measure(
        `signature checks (401) of ${statuses.length} concurrent bad tokens from one address, RATE_LIMIT_PER_MINUTE=10`,
        verified,
      );
      expect(verified).toBeGreaterThan(0);
      expect(verified).toBeLessThanOrEqual(10);
      expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
      // A genuine caller from another address is unaffected, and one from this address waits like the rest.
      expect(
        (
          await limited.send({
            method: 'POST',
            path: '/api/token',
            localAddress: '127.0.0.10',
            headers: authorization(genuine),
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await limited.send({
            method: 'POST',
            path: '/api/token',
            localAddress: '127.0.0.9',
            headers: authorization(genuine),
          })
        ).status,
      ).toBe(429);
    } finally {
      await limited.close();
      slowKeys.closeAllConnections();
      slowKeys.close();
      await issuer.close();
    }
  });
});

describe('the issuer key set endpoint goes down', () => {
  let issuer: DevIssuer;
  let down: SecureService;
  beforeAll(async () => {
    issuer = await startDevIssuer();
    // Cool-down 0: an unknown kid really tries to refetch from the dead endpoint, the harder path.
    down = await startSecureService(ledger, { issuer, jwt: { cooldownMs: 0 } });
  });
  afterAll(async () => {
    await down?.close();
    await issuer?.close().catch(() => undefined);
  });

  it('keeps accepting tokens signed with cached keys; a new kid is a 401, not a 5xx, with no ACS call', async () => {
    const user = uniqueUser('jwks');
    const before = await down.callerToken(user);
    expect(
      (await down.send({ method: 'POST', path: '/api/token', headers: authorization(before) })).status,
    ).toBe(200);

    const cachedKid = decodeProtectedHeader(before).kid!;
    await issuer.rotateKey();
    const withNewKey = await down.callerToken(user);
    expect(decodeProtectedHeader(withNewKey).kid).not.toBe(cachedKid);
    const withCachedKey = await down.callerToken(user, {}, { kid: cachedKid });
    await issuer.close();

    const cached = await down.send({
      method: 'POST',
      path: '/api/token',
      headers: authorization(withCachedKey),
    });
    expect(cached.status).toBe(200);

    const activity = await down.acsActivity();
    for (const method of ['POST', 'GET']) {
      const refused = await down.send({ method, path: '/api/token', headers: authorization(withNewKey) });
      expect(refused.status).toBe(401);
      expect(problemViolations(refused)).toEqual([]);
    }
    expect(await down.acsActivity()).toBe(activity);
  });

  it('when the keys were never fetched and the issuer is down, answers 503 with Retry-After, never 500', async () => {
    const gone = await startDevIssuer();
    const token = await gone.mint(claimsOf(uniqueUser('never-fetched')));
    ledger.capture.secret('caller JWT', token);
    const fresh = await startSecureService(ledger, { issuer: gone, faultsInjected: true });
    try {
      await gone.close();
      const activity = await fresh.acsActivity();
      const response = await fresh.send({
        method: 'POST',
        path: '/api/token',
        headers: authorization(token),
      });
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toMatch(/^\d+$/);
      expect(problemViolations(response)).toEqual([]);
      expect(await fresh.acsActivity()).toBe(activity);
    } finally {
      await fresh.close();
    }
  });
});
