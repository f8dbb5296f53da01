import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../../dev/demo-server.js';
import { isLoopbackHost } from '../../dev/loopback-host.js';
import {
  ADMIN_ROLE,
  authorization,
  FULL,
  Ledger,
  problemViolations,
  rawRequest,
  type SecureService,
  sizes,
  startSecureService,
  uniqueUser,
} from './harness.js';

const ledger = new Ledger('host-header');
/** A fixed seed keeps the regular run deterministic; SECURITY_SEED explores others. */
const seed = Number(process.env.SECURITY_SEED ?? 20261122);
let service: SecureService;
let demo: DemoServer;

beforeAll(async () => {
  service = await startSecureService(ledger);
  demo = await startDemoServer({ serviceUrl: service.url, issuerUrl: service.issuer.issuer });
});

afterAll(async () => {
  await demo?.close();
  await service?.close();
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
  expect(figures.unexpected5xx).toBe(0);
  expect(figures.acsCallsByRejected).toBe(0);
});

/** The caller's ACS token, and its caller token, from a first token request. */
async function signedIn() {
  const caller = await service.callerToken(uniqueUser('host'));
  const response = await service.send({ method: 'POST', path: '/api/token', headers: authorization(caller) });
  expect(response.status).toBe(200);
  return { caller, acsToken: (response.json() as { token: string }).token };
}

describe('the local host: nothing in the Host header changes the route', () => {
  it('POST /revoke with Host 127.0.0.1:PORT/api/identity is refused (400 problem) and revokes nothing', async () => {
    const { caller, acsToken } = await signedIn();
    for (const host of [`127.0.0.1:${service.host.port}/api/identity`, '127.0.0.1/api/identity']) {
      const response = await service.send({
        method: 'POST',
        path: '/revoke',
        headers: { ...authorization(caller), Host: host },
      });
      expect(response.status, host).toBe(400);
      expect(problemViolations(response)).toEqual([]);
    }
    expect((await service.introspect(acsToken)).active).toBe(true);
  });

  it('Host user@127.0.0.1 (userinfo) is a 400 problem, not a 500', async () => {
    const { caller } = await signedIn();
    for (const path of ['/api/token', '/api/health']) {
      const response = await service.send({
        method: path === '/api/token' ? 'POST' : 'GET',
        path,
        headers: { ...authorization(caller), Host: 'user@127.0.0.1' },
      });
      expect(response.status, path).toBe(400);
      expect(problemViolations(response)).toEqual([]);
    }
  });

  it('a rebinding Host (another site’s name resolving to 127.0.0.1) is refused on every route', async () => {
    const { caller, acsToken } = await signedIn();
    for (const [method, path] of [
      ['POST', '/api/token'],
      ['POST', '/api/identity/revoke'],
      ['DELETE', '/api/identity'],
      ['GET', '/api/health'],
    ] as const) {
      const response = await service.send({
        method,
        path,
        headers: { ...authorization(caller), Host: 'rebind.attacker.example' },
      });
      expect(response.status, `${method} ${path}`).toBe(400);
      expect(problemViolations(response, method)).toEqual([]);
    }
    expect((await service.introspect(acsToken)).active).toBe(true);
  });

  it(`answers any Host with the route of its path or a 400 problem, never a 5xx (${sizes.propertyRuns} runs)`, async () => {
    const hostPart = fc.oneof(
      fc.constantFrom(
        '127.0.0.1',
        'localhost',
        '[::1]',
        'user@127.0.0.1',
        'a/b',
        'x?y',
        '#',
        '%2F',
        '127.0.0.1:',
      ),
      fc.string({ maxLength: 30 }).filter((text) => !/[\r\n\0]/.test(text)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(hostPart, { minLength: 1, maxLength: 3 }), async (parts) => {
        const host = parts.join('');
        const response = await rawRequest(service.url, {
          method: 'GET',
          path: '/api/health',
          headers: { Host: host },
        }).catch((error: unknown) => {
          // Node's client refuses some header values itself: nothing was sent, nothing to check.
          if (error instanceof TypeError) return undefined;
          throw error;
        });
        if (response === undefined) return;
        ledger.observe(response);
        // HTTP drops the spaces and tabs around a header value, so the server sees the value trimmed.
        expect(response.status).toBe(isLoopbackHost(host.replace(/^[ \t]+|[ \t]+$/g, '')) ? 200 : 400);
        if (response.status === 400) expect(problemViolations(response)).toEqual([]);
      }),
      { numRuns: sizes.propertyRuns, seed, endOnFailure: !FULL },
    );
  });
});

describe('the development servers refuse a rebinding Host', () => {
  const form = (host: string) =>
    rawRequest(demo.url, {
      method: 'POST',
      path: '/dev-token',
      headers: { Host: host, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `user=mallory&roles=${ADMIN_ROLE}`,
    });

  it('the demo server’s POST /dev-token (a form post, no preflight) mints no admin token for rebind.attacker.example', async () => {
    const refused = await form('rebind.attacker.example');
    expect(refused.status).toBe(400);
    expect(refused.text).not.toContain('access_token');
    expect((await form(`rebind.attacker.example:${new URL(demo.url).port}`)).status).toBe(400);
    const page = await rawRequest(demo.url, {
      method: 'GET',
      path: '/',
      headers: { Host: 'rebind.attacker.example' },
    });
    expect(page.status).toBe(400);
    // From loopback, the development sign-in still works.
    const allowed = await form(`localhost:${new URL(demo.url).port}`);
    expect(allowed.status).toBe(200);
    ledger.capture.secret('caller JWT', (allowed.json() as { access_token: string }).access_token);
  });

  it('the dev issuer’s POST /token and key set refuse it too', async () => {
    const issuerUrl = service.issuer.issuer;
    const mint = await rawRequest(issuerUrl, {
      method: 'POST',
      path: '/token',
      headers: { Host: 'rebind.attacker.example', 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'mallory', roles: [ADMIN_ROLE] }),
    });
    expect(mint.status).toBe(400);
    expect(mint.text).not.toContain('access_token');
    const keys = await rawRequest(issuerUrl, {
      method: 'GET',
      path: '/keys',
      headers: { Host: 'rebind.attacker.example' },
    });
    expect(keys.status).toBe(400);
  });
});
