import functions, { type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { corsStep, EXPOSED_RESPONSE_HEADERS, PREFLIGHT_MAX_AGE_SECONDS } from '../../../src/http/cors.js';
import type { RequestScope, Step } from '../../../src/http/pipeline.js';
import { acceptPreflight, preflightMethods } from '../../../src/http/route-table.js';

const table = [
  { name: 'issueToken', methods: ['GET', 'POST'] as const, route: 'token' },
  { name: 'health', methods: ['GET'] as const, route: 'health' },
  { name: 'getThing', methods: ['GET'] as const, route: 'things/{id}' },
  { name: 'deleteThing', methods: ['DELETE'] as const, route: 'Things/{thingId}' },
  { name: 'notFound', methods: ['GET', 'OPTIONS'] as const, route: '{*path}' },
];

const ALLOWED = 'https://app.example.com';

function scope(method: string, functionName: string, headers: Record<string, string> = {}): RequestScope {
  return {
    request: new functions.HttpRequest({ method, url: 'http://127.0.0.1/api/x', headers }),
    context: new functions.InvocationContext({ invocationId: crypto.randomUUID(), functionName }),
    // CORS reads only the request and the function name.
    services: undefined as never,
    acs: undefined as never,
    log: () => {},
  };
}

function headersOf(response: HttpResponseInit | undefined) {
  return new Headers(response?.headers as Record<string, string>);
}

function corsHeaderNames(response: HttpResponseInit | undefined) {
  const names: string[] = [];
  headersOf(response).forEach((_value, name) => {
    if (name.startsWith('access-control-')) names.push(name);
  });
  return names;
}

function policy(allowedOrigins: readonly string[] = [ALLOWED], platformOrigins?: readonly string[]): Step {
  return corsStep({
    allowedOrigins,
    ...(platformOrigins ? { platformOrigins } : {}),
    routeMethods: preflightMethods(() => acceptPreflight(table)),
  });
}

/** The CORS step in front of a route that answers `routeAnswer`. */
function run(cors: Step, requestScope: RequestScope, routeAnswer: HttpResponseInit = { status: 200 }) {
  return cors(requestScope, async () => routeAnswer);
}

const preflightFrom = (origin: string, functionName = 'issueToken') =>
  scope('OPTIONS', functionName, {
    origin,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization,content-type',
  });

describe('the CORS step', () => {
  it('answers a preflight from an allowed origin with 204 and the route methods, headers and max age', async () => {
    const response = await run(policy(), preflightFrom(ALLOWED), { status: 500 });
    expect(response.status).toBe(204);
    const headers = headersOf(response);
    expect(headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type');
    expect(headers.get('access-control-max-age')).toBe(String(PREFLIGHT_MAX_AGE_SECONDS));
    expect(headers.get('vary')).toBe('Origin');
    expect(headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect(headers.has('access-control-allow-credentials')).toBe(false);
  });

  it('answers a preflight from another origin 204 with no CORS header, so the browser blocks the call', async () => {
    for (const origin of [
      'https://evil.example',
      'https://app.example.com.evil.example',
      'null',
      'HTTPS://APP.EXAMPLE.COM',
    ]) {
      const response = await run(policy(), preflightFrom(origin), { status: 500 });
      expect(response.status).toBe(204);
      expect(corsHeaderNames(response)).toEqual([]);
      expect(headersOf(response).get('vary')).toBe('Origin');
    }
  });

  it('answers every OPTIONS to a known route itself, preflight or not, so it never reaches the operation', async () => {
    for (const headers of [{}, { origin: ALLOWED }] as Record<string, string>[]) {
      const response = await run(policy(), scope('OPTIONS', 'health', headers), { status: 500 });
      expect(response.status).toBe(204);
      expect(headersOf(response).get('allow')).toBe('GET, OPTIONS');
      expect(headersOf(response).has('access-control-allow-methods')).toBe(false);
    }
  });

  it('leaves OPTIONS on an unknown path to the catch-all (a 404)', async () => {
    const response = await run(policy(), preflightFrom(ALLOWED, 'notFound'), { status: 404 });
    expect(response.status).toBe(404);
  });

  it('gives actual responses to an allowed origin the origin, Vary and the readable headers, errors included', async () => {
    for (const status of [200, 401, 429, 503]) {
      const response = await run(policy(), scope('POST', 'issueToken', { origin: ALLOWED }), {
        status,
        headers: { 'Retry-After': '5', Vary: 'Accept-Encoding' },
      });
      const headers = headersOf(response);
      expect(response.status).toBe(status);
      expect(headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(headers.get('access-control-expose-headers')).toBe(EXPOSED_RESPONSE_HEADERS);
      expect(headers.get('vary')).toBe('Accept-Encoding, Origin');
      expect(headers.get('retry-after')).toBe('5');
    }
  });

  it('gives other origins and requests without Origin no CORS header', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const response = await run(policy(), scope('GET', 'issueToken', headers), {
        status: 200,
        jsonBody: { ok: true },
      });
      expect(response).toMatchObject({ status: 200, jsonBody: { ok: true } });
      expect(corsHeaderNames(response)).toEqual([]);
    }
  });

  it('adds nothing at all when no origin is configured', async () => {
    const original: HttpResponseInit = { status: 200, headers: { 'X-Test': '1' } };
    const response = await run(policy([]), scope('GET', 'issueToken', { origin: ALLOWED }), original);
    expect(response).toBe(original);
    const preflight = await run(policy([]), preflightFrom(ALLOWED));
    expect(preflight.status).toBe(204);
    expect(corsHeaderNames(preflight)).toEqual([]);
  });

  it('does not repeat Vary: Origin', async () => {
    const response = await run(policy(), scope('GET', 'issueToken', { origin: ALLOWED }), {
      status: 200,
      headers: { Vary: 'origin' },
    });
    expect(headersOf(response).get('vary')).toBe('origin');
  });
});

/**
 * On Linux/Flex Consumption the Functions host's CORS middleware adds Access-Control-Allow-Origin for the origins of
 * its CORS_ALLOWED_ORIGINS list (Azure/azure-functions-host, src/WebJobs.Script.WebHost/Configuration/
 * CorsOptionsSetup.cs: CorsPolicyBuilder(allowedOrigins), AllowAnyHeader, AllowAnyMethod, no exposed headers).
 */
describe('the CORS step behind the platform', () => {
  const PLATFORM = 'https://portal.example.com';

  it('never adds its own Access-Control-Allow-Origin for an origin the platform answers, even one it lists too', async () => {
    for (const origin of [PLATFORM, ALLOWED]) {
      const response = await run(
        policy([ALLOWED], [PLATFORM, ALLOWED]),
        scope('POST', 'issueToken', { origin }),
      );
      const headers = headersOf(response);
      expect(headers.get('access-control-allow-origin'), origin).toBeNull();
      // The host's policy exposes no header; the app still lets the page read Retry-After and WWW-Authenticate.
      expect(headers.get('access-control-expose-headers')).toBe(EXPOSED_RESPONSE_HEADERS);
      expect(headers.get('vary')).toBe('Origin');
    }
  });

  it('leaves every origin to a platform list of exactly ["*"], as ASP.NET Core reads it', async () => {
    const anyOrigin = await run(policy([ALLOWED], ['*']), scope('GET', 'issueToken', { origin: ALLOWED }));
    expect(headersOf(anyOrigin).get('access-control-allow-origin')).toBeNull();
    const literalStar = await run(
      policy([ALLOWED], ['*', PLATFORM]),
      scope('GET', 'issueToken', { origin: ALLOWED }),
    );
    expect(headersOf(literalStar).get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it('answers a preflight from a platform origin without Access-Control-Allow-*, as for an unlisted origin', async () => {
    const response = await run(policy([ALLOWED], [ALLOWED]), preflightFrom(ALLOWED));
    expect(response.status).toBe(204);
    expect(corsHeaderNames(response)).toEqual(['access-control-expose-headers']);
  });

  it('keeps answering its own origins that the platform does not list, and adds nothing for strangers', async () => {
    const own = await run(policy([ALLOWED], [PLATFORM]), scope('GET', 'issueToken', { origin: ALLOWED }));
    expect(headersOf(own).get('access-control-allow-origin')).toBe(ALLOWED);
    const stranger: HttpResponseInit = { status: 200 };
    expect(
      await run(
        policy([], [PLATFORM]),
        scope('GET', 'issueToken', { origin: 'https://evil.example' }),
        stranger,
      ),
    ).toBe(stranger);
  });
});
