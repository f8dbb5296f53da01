import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPOSED_RESPONSE_HEADERS, PREFLIGHT_MAX_AGE_SECONDS } from '../../src/http/cors.js';
import { PROBLEM_CONTENT_TYPE } from '../../src/http/problem.js';
import { routes } from '../../src/routes.js';
import { browserSkipReason, launchBrowser } from '../support/browser.js';
import { type EmulatorStats, type RunningService, startService } from '../support/service.js';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example';

/** An API path for a route template, with every parameter filled in. */
const pathOf = (template: string) => template.replace(/\{[^}]+\}/g, 'someone');
const knownRoutes = routes.filter((route) => !route.route.includes('{*'));

function accessControlHeaders(response: Response): string[] {
  const names: string[] = [];
  response.headers.forEach((_value, name) => {
    if (name.startsWith('access-control-')) names.push(name);
  });
  return names;
}

const varyOf = (response: Response) =>
  (response.headers.get('vary') ?? '').split(',').map((item) => item.trim().toLowerCase());

const acsCalls = (stats: EmulatorStats) =>
  Object.values(stats.operations).reduce((sum, count) => sum + count, 0);

interface RequestLine {
  event: 'request';
  method: string;
  status: number;
  acsCalls: number;
}

/** The host's one-line-per-request log records. */
function requestLines(service: RunningService): RequestLine[] {
  return service.logs.flatMap(({ line }) => {
    try {
      const record = JSON.parse(line) as Partial<RequestLine>;
      return record.event === 'request' ? [record as RequestLine] : [];
    } catch {
      return [];
    }
  });
}

async function expectTooManyRequests(response: Response) {
  expect(response.status).toBe(429);
  expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  const retryAfter = response.headers.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(await response.json()).toMatchObject({
    status: 429,
    type: 'urn:acs-token-service:problem:too-many-requests',
  });
}

describe('CORS answered by the app', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { APP_CORS_ALLOWED_ORIGINS: `${ALLOWED}, http://localhost:5173` } });
  });
  afterAll(() => service.close());

  const preflight = (path: string, origin: string, method: string) =>
    fetch(service.api(path), {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': method,
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });

  it('answers a preflight from an allowed origin on every route of the table, with the methods of its path', async () => {
    expect(knownRoutes.length).toBeGreaterThanOrEqual(2);
    // Several functions may share a path (GET and DELETE on one resource): a preflight announces all of them.
    const methodsByPath = new Map<string, Set<string>>();
    for (const route of knownRoutes) {
      const methods = methodsByPath.get(pathOf(route.route).toLowerCase()) ?? new Set<string>();
      for (const method of route.methods) if (method !== 'OPTIONS') methods.add(method);
      methodsByPath.set(pathOf(route.route).toLowerCase(), methods);
    }
    for (const [path, methods] of methodsByPath) {
      for (const method of methods) {
        const response = await preflight(path, ALLOWED, method);
        expect(response.status, `${method} ${path}`).toBe(204);
        expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
        const announced = (response.headers.get('access-control-allow-methods') ?? '').split(', ');
        expect(announced.sort(), `${method} ${path}`).toEqual([...methods].sort());
        expect(response.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type');
        expect(response.headers.get('access-control-max-age')).toBe(String(PREFLIGHT_MAX_AGE_SECONDS));
        expect(response.headers.has('access-control-allow-credentials')).toBe(false);
        expect(varyOf(response)).toContain('origin');
      }
    }
    // A preflight is answered before authentication: it never reaches ACS.
    expect(acsCalls(await service.emulatorStats())).toBe(0);
  });

  it('accepts a loopback http origin from the list, as a local web app has', async () => {
    const response = await preflight('token', 'http://localhost:5173', 'POST');
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('gives a preflight from another origin no CORS header on any route', async () => {
    for (const route of knownRoutes) {
      for (const origin of [OTHER, 'null', `${ALLOWED}.evil.example`]) {
        const response = await preflight(pathOf(route.route), origin, route.methods[0]!);
        expect(response.status).toBe(204);
        expect(accessControlHeaders(response)).toEqual([]);
      }
    }
  });

  it('adds the origin, Vary and the readable headers to actual GET and POST answers for an allowed origin', async () => {
    const health = await fetch(service.api('health'), { headers: { Origin: ALLOWED } });
    expect(health.status).toBe(200);
    expect(health.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(varyOf(health)).toContain('origin');

    const token = await fetch(service.api('token'), {
      method: 'POST',
      headers: {
        Origin: ALLOWED,
        Authorization: `Bearer ${await service.tokenFor('browser-user')}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ scopes: ['chat'] }),
    });
    expect(token.status).toBe(200);
    expect(token.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(token.headers.get('access-control-expose-headers')).toBe(EXPOSED_RESPONSE_HEADERS);
    expect(await token.json()).toMatchObject({ token: expect.any(String) });
  });

  it('lets a browser app read why it was refused: a 401 carries the CORS headers and exposes WWW-Authenticate', async () => {
    const response = await fetch(service.api('token'), { method: 'POST', headers: { Origin: ALLOWED } });
    expect(response.status).toBe(401);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(response.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('gives actual answers to another origin no CORS header', async () => {
    const response = await fetch(service.api('health'), { headers: { Origin: OTHER } });
    expect(response.status).toBe(200);
    expect(accessControlHeaders(response)).toEqual([]);
  });

  it('leaves requests without Origin (native apps) as they were', async () => {
    const response = await service.requestToken('native-user');
    expect(response.status).toBe(200);
    expect(accessControlHeaders(response)).toEqual([]);
    const options = await fetch(service.api('token'), { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect(accessControlHeaders(options)).toEqual([]);
  });

  it('answers a preflight to an unknown path with a 404 problem', async () => {
    const response = await preflight('no-such-route', ALLOWED, 'GET');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  });
});

describe('rate limits per verified user', () => {
  let service: RunningService;
  beforeAll(async () => {
    // Token reuse off: every allowed request for a known user is then exactly one ACS call, which the test counts.
    service = await startService({
      env: { RATE_LIMIT_PER_MINUTE: '3', APP_CORS_ALLOWED_ORIGINS: ALLOWED, TOKEN_REUSE: 'false' },
    });
  });
  afterAll(() => service.close());

  it('answers a burst beyond the limit 429 with Retry-After, and those requests make no ACS call', async () => {
    expect((await service.requestToken('bursty')).status).toBe(200); // creates the identity: one ACS call
    const before = acsCalls(await service.emulatorStats());

    const burst = await Promise.all(Array.from({ length: 6 }, () => service.requestToken('bursty')));
    const statuses = burst.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    for (const response of burst.filter(({ status }) => status === 429))
      await expectTooManyRequests(response);
    expect(acsCalls(await service.emulatorStats()) - before).toBe(2);
    const refusedLines = requestLines(service).filter(({ status }) => status === 429);
    expect(refusedLines).toHaveLength(4);
    expect(refusedLines.every(({ acsCalls: calls }) => calls === 0)).toBe(true);
  });

  it('does not let one user’s spent bucket touch another user', async () => {
    expect((await service.requestToken('bursty')).status).toBe(429);
    expect((await service.requestToken('patient')).status).toBe(200);
  });

  it('counts every authenticated route in the same bucket, and a browser app can read the 429', async () => {
    const token = await service.tokenFor('bursty');
    const response = await fetch(service.api('token?scopes=chat'), {
      headers: { Authorization: `Bearer ${token}`, Origin: ALLOWED },
    });
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(response.headers.get('access-control-expose-headers')).toContain('Retry-After');
    await expectTooManyRequests(response);
  });
});

describe('rate limits per client address for failed authentication', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(() => service.close());

  const garbage = (headers: Record<string, string> = {}) =>
    fetch(service.api('token'), {
      method: 'POST',
      headers: { Authorization: 'Bearer not-a-jwt', ...headers },
    });

  it('answers 401 until the address has failed RATE_LIMIT_PER_MINUTE times, then 429 before verifying', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < 3; index++) statuses.push((await garbage()).status);
    expect(statuses).toEqual([401, 401, 401]);
    await expectTooManyRequests(await garbage());
    // A forged X-Forwarded-For does not buy a fresh bucket: the host appends the socket address, which counts.
    await expectTooManyRequests(await garbage({ 'X-Forwarded-For': '203.0.113.77' }));
    await expectTooManyRequests(await fetch(service.api('token'), { method: 'POST' }));
    expect(acsCalls(await service.emulatorStats())).toBe(0);

    const refusals = requestLines(service).filter(({ status }) => status === 429);
    expect(refusals).toHaveLength(3);
  });

  it('also holds back a valid token from that address until the bucket refills (the price of refusing early)', async () => {
    await expectTooManyRequests(await service.requestToken('neighbour'));
  });

  it('keeps other client addresses apart: a request from 127.0.0.2 still gets its own bucket', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = httpRequest(
        service.api('token'),
        { method: 'POST', localAddress: '127.0.0.2', headers: { Authorization: 'Bearer not-a-jwt' } },
        (incoming) => {
          incoming.resume();
          incoming.on('end', () => resolve(incoming.statusCode ?? 0));
        },
      );
      outgoing.on('error', reject);
      outgoing.end();
    });
    expect(status).toBe(401);
  });
});

describe('when ACS itself throttles', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService();
  });
  afterAll(() => service.close());

  it('answers 503 with ACS’s Retry-After after one ACS call, instead of hammering it', async () => {
    const before = await service.emulatorStats();
    service.emulator.setFaults({ failRate: 1, failStatus: 429, retryAfterSeconds: 17 });
    try {
      const response = await service.requestToken('throttled');
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('17');
      expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
    const after = await service.emulatorStats();
    expect(after.rejected.faults - before.rejected.faults).toBe(1);
  });
});

/** A web app's origin: serves one empty page, from which the browser calls the service cross-origin. */
async function startAppOrigin(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface BrowserFetch {
  ok: boolean;
  status?: number;
  retryAfter?: string | null;
  wwwAuthenticate?: string | null;
  error?: string;
}

const skipReason = browserSkipReason();

describe.skipIf(skipReason !== undefined)(
  skipReason ? `CORS in a browser (skipped: ${skipReason})` : 'CORS as headless Chromium enforces it',
  () => {
    let allowedApp: Awaited<ReturnType<typeof startAppOrigin>>;
    let foreignApp: Awaited<ReturnType<typeof startAppOrigin>>;
    let service: RunningService;
    let browser: Browser;

    beforeAll(async () => {
      allowedApp = await startAppOrigin();
      foreignApp = await startAppOrigin();
      service = await startService({
        env: { APP_CORS_ALLOWED_ORIGINS: allowedApp.origin, RATE_LIMIT_PER_MINUTE: '2' },
      });
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await service?.close();
      for (const app of [allowedApp, foreignApp]) {
        await new Promise((resolve) => app?.server.close(resolve));
      }
    });

    /** `fetch` from a page of `origin`, with a bearer token (so the browser must preflight). */
    async function fetchFrom(origin: string, token: string | undefined): Promise<BrowserFetch> {
      const page = await browser.newPage();
      try {
        await page.goto(origin);
        return await page.evaluate(
          async ({ url, token }) => {
            try {
              const response = await fetch(url, {
                method: 'POST',
                headers: {
                  'Content-Type': 'application/json',
                  ...(token ? { Authorization: `Bearer ${token}` } : {}),
                },
                body: JSON.stringify({ scopes: ['chat'] }),
              });
              return {
                ok: response.ok,
                status: response.status,
                retryAfter: response.headers.get('retry-after'),
                wwwAuthenticate: response.headers.get('www-authenticate'),
              };
            } catch (error) {
              return { ok: false, error: String(error) };
            }
          },
          { url: service.api('token'), token },
        );
      } finally {
        await page.close();
      }
    }

    const preflightsSeen = () =>
      requestLines(service).filter(({ method, status }) => method === 'OPTIONS' && status === 204).length;

    it('lets a page on an allowed origin get a token after a preflight, and read 401 and 429 answers', async () => {
      const token = await service.tokenFor('browser-alice');
      const first = await fetchFrom(allowedApp.origin, token);
      expect(first).toMatchObject({ ok: true, status: 200 });
      expect(preflightsSeen()).toBeGreaterThanOrEqual(1);

      const unauthenticated = await fetchFrom(allowedApp.origin, undefined);
      expect(unauthenticated).toMatchObject({ status: 401, wwwAuthenticate: 'Bearer' });

      expect(await fetchFrom(allowedApp.origin, token)).toMatchObject({ status: 200 });
      const limited = await fetchFrom(allowedApp.origin, token);
      expect(limited.status).toBe(429);
      expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    });

    it('blocks a page on another origin: its fetch fails and the service issues nothing', async () => {
      const before = await service.emulatorStats();
      const result = await fetchFrom(foreignApp.origin, await service.tokenFor('browser-mallory'));
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/TypeError/);
      const after = await service.emulatorStats();
      expect(acsCalls(after)).toBe(acsCalls(before));
    });
  },
);
