import functions, { type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/caller/principal.js';
import type { AuthenticatedScope, RequestScope } from '../../../src/http/pipeline.js';
import { PROBLEM_CONTENT_TYPE } from '../../../src/http/problem.js';
import { failedAuthenticationLimit, type RateLimitOptions, userLimit } from '../../../src/http/rate-limit.js';
import { loadSettings } from '../../../src/settings.js';

function manualClock() {
  let now = 0;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function scope(address?: string, credentials: Record<string, string> = {}): RequestScope {
  // As App Service writes the last hop: the socket address with its port, IPv6 in brackets.
  const hop = address?.includes(':') ? `[${address}]:50000` : `${address}:50000`;
  return {
    request: new functions.HttpRequest({
      method: 'POST',
      url: 'http://127.0.0.1/api/token',
      headers: { ...(address ? { 'x-forwarded-for': hop } : {}), ...credentials },
    }),
    context: new functions.InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: 'issueToken',
    }),
    // The rate limit reads only the request, the invocation id and the caller.
    services: undefined as never,
    acs: undefined as never,
    log: () => {},
  };
}

function as(caller: Partial<Principal>, address = '203.0.113.1'): AuthenticatedScope {
  return {
    ...scope(address),
    caller: {
      issuer: 'https://issuer.example',
      userId: 'alice',
      roles: [],
      scopes: [],
      anonymous: false,
      ...caller,
    },
  };
}

/** Both limit steps with the same options, as the pipeline holds them. */
function createLimits(options: RateLimitOptions) {
  return { failed: failedAuthenticationLimit(options), user: userLimit(options) };
}
type Limits = ReturnType<typeof createLimits>;

/** How a verification ends: the credentials pass, are refused (401, 403 insufficient_scope), or cannot be checked. */
type Verification = 'passes' | 'refused' | 'unavailable';

class Refused extends Error {}
const isRefused = (error: unknown) => error instanceof Refused;

/**
 * A request through the failed-authentication limit whose verification ends as `verification` (after `during`,
 * if given): the 429 the limit answers, or the status the authenticate step would answer.
 */
async function authenticating(
  limits: Limits,
  requestScope: RequestScope,
  verification: Verification,
  during: () => Promise<void> = async () => {},
): Promise<HttpResponseInit> {
  try {
    const refusal = await limits.failed(
      requestScope,
      async () => {
        await during();
        if (verification === 'refused') throw new Refused('bad credentials');
        if (verification === 'unavailable') throw new Error('keys unavailable');
      },
      isRefused,
    );
    return refusal ?? { status: 200 };
  } catch (error) {
    return { status: isRefused(error) ? 401 : 503 };
  }
}

/** A verified request as the pipeline runs it: authenticate within the failed-auth limit, then the user limit. */
async function verified(limits: Limits, authenticated: AuthenticatedScope): Promise<HttpResponseInit> {
  const answer = await authenticating(limits, authenticated, 'passes');
  return answer.status === 200 ? limits.user(authenticated, async () => ({ status: 200 })) : answer;
}

/** A request whose credentials are refused. */
function unauthenticated(limits: Limits, requestScope: RequestScope) {
  return authenticating(limits, requestScope, 'refused');
}

function expectTooMany(response: HttpResponseInit, retryAfter: string) {
  expect(response.status).toBe(429);
  const headers = new Headers(response.headers as Record<string, string>);
  expect(headers.get('retry-after')).toBe(retryAfter);
  expect(headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  expect(response.jsonBody).toMatchObject({
    status: 429,
    type: 'urn:acs-token-service:problem:too-many-requests',
  });
}

describe('the rate limit steps', () => {
  it('lets a user spend RATE_LIMIT_PER_MINUTE at once, then answers 429 with Retry-After until a token refills', async () => {
    const clock = manualClock();
    const limits = createLimits({ perMinute: 3, now: clock.now });
    for (let index = 0; index < 3; index++) expect((await verified(limits, as({}))).status).toBe(200);
    expectTooMany(await verified(limits, as({})), '20');
    clock.advance(15_000);
    expectTooMany(await verified(limits, as({})), '5');
    clock.advance(5_000);
    expect((await verified(limits, as({}))).status).toBe(200);
    expect((await verified(limits, as({}))).status).toBe(429);
  });

  it('keys users by issuer and user id, not by address', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    expect((await verified(limits, as({ userId: 'alice' }, '203.0.113.1'))).status).toBe(200);
    expect((await verified(limits, as({ userId: 'alice' }, '203.0.113.2'))).status).toBe(429);
    expect((await verified(limits, as({ userId: 'bob' }, '203.0.113.1'))).status).toBe(200);
    expect((await verified(limits, as({ userId: 'alice', issuer: 'https://other.example' }))).status).toBe(
      200,
    );
  });

  it('limits failed authentications per client address, refusing before verification once spent', async () => {
    const clock = manualClock();
    const limits = createLimits({ perMinute: 2, now: clock.now });
    expect((await unauthenticated(limits, scope('198.51.100.7'))).status).toBe(401);
    expect((await unauthenticated(limits, scope('198.51.100.7'))).status).toBe(401);
    expectTooMany(await unauthenticated(limits, scope('198.51.100.7')), '30');
    // Other addresses are not affected; a verified user behind the spent address waits like everyone there.
    expect((await unauthenticated(limits, scope('198.51.100.8'))).status).toBe(401);
    expectTooMany(await verified(limits, as({ userId: 'carol' }, '198.51.100.7')), '30');
    clock.advance(30_000);
    expect((await verified(limits, as({ userId: 'carol' }, '198.51.100.7'))).status).toBe(200);
  });

  it('counts IPv6 clients by their /64: 50 bad tokens from 50 addresses of one /64 get RATE_LIMIT_PER_MINUTE verifications (issue 19, point 6)', async () => {
    const limits = createLimits({ perMinute: 10, now: manualClock().now });
    const statuses: number[] = [];
    for (let host = 1; host <= 50; host++) {
      const address = `2001:db8:aa:bb:${host.toString(16)}:${((host * 7919) % 0x10000).toString(16)}::${host.toString(16)}`;
      statuses.push((await unauthenticated(limits, scope(address))).status ?? 0);
    }
    expect(statuses.filter((status) => status === 401)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(40);
    // The neighbouring /64 is someone else.
    expect((await unauthenticated(limits, scope('2001:db8:aa:bc::1'))).status).toBe(401);
  });

  it('counts one address once whatever its spelling: IPv4-mapped IPv6, zero compression, case (issue 19, point 6)', async () => {
    const limits = createLimits({ perMinute: 3, now: manualClock().now });
    const ipv4 = ['198.51.100.9', '::ffff:198.51.100.9', '::FFFF:c633:6409', '0:0:0:0:0:ffff:c633:6409'];
    const spelled = async (addresses: string[]) => {
      const statuses = [];
      for (const address of addresses) statuses.push((await unauthenticated(limits, scope(address))).status);
      return statuses;
    };
    expect(await spelled(ipv4)).toEqual([401, 401, 401, 429]);
    const ipv6 = [
      '2001:DB8:0:0:1::1',
      '2001:db8::1:0:0:1',
      '2001:0db8:0000:0000:0001:0000:0000:0001',
      '2001:db8::2',
    ];
    expect(await spelled(ipv6)).toEqual([401, 401, 401, 429]);
  });

  it('does not charge an address for requests whose credentials pass, or that cannot be verified now', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    for (const verification of ['passes', 'unavailable'] as const) {
      await authenticating(limits, scope('198.51.100.9'), verification);
    }
    expect((await unauthenticated(limits, scope('198.51.100.9'))).status).toBe(401);
  });

  it('charges an address for refused credentials, a token lacking the required scope included', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    // The authenticate step refuses a token lacking the required scope as it refuses a bad one.
    await authenticating(limits, scope('198.51.100.10'), 'refused');
    expectTooMany(await unauthenticated(limits, scope('198.51.100.10')), '60');
  });

  it('reserves the address token before verifying sent credentials: many at once get at most a bucket of verifications', async () => {
    const limits = createLimits({ perMinute: 3, now: manualClock().now });
    const bearer = { authorization: 'Bearer a.b.c' };
    // All arrive before any verification ends: only the first three may go on to verify.
    let verifying = 0;
    let release = () => {};
    const verificationsEnd = new Promise<void>((resolve) => {
      release = resolve;
    });
    const answers = Array.from({ length: 50 }, () =>
      authenticating(limits, scope('198.51.100.11', bearer), 'refused', async () => {
        verifying++;
        await verificationsEnd;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(verifying).toBe(3);
    release();
    const statuses = (await Promise.all(answers)).map((response) => response.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(47);
    expectTooMany(await unauthenticated(limits, scope('198.51.100.11', bearer)), '20');
  });

  it('gives the reserved token back as soon as the credentials pass (or cannot be verified now)', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    const easyAuth = { 'x-ms-client-principal': 'e30=' };
    for (const verification of ['passes', 'unavailable', 'passes'] as const) {
      expect((await authenticating(limits, scope('198.51.100.12', easyAuth), verification)).status).not.toBe(
        429,
      );
    }
    expect((await unauthenticated(limits, scope('198.51.100.12', easyAuth))).status).toBe(401);
    expect((await unauthenticated(limits, scope('198.51.100.12', easyAuth))).status).toBe(429);
  });

  it('puts requests without a readable address in one shared bucket rather than letting them escape', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    expect((await unauthenticated(limits, scope())).status).toBe(401);
    expect((await unauthenticated(limits, scope())).status).toBe(429);
  });

  it('limits anonymous callers (a new random user each call) by their address', async () => {
    const limits = createLimits({ perMinute: 1, now: manualClock().now });
    const anonymous = (address: string) => as({ userId: crypto.randomUUID(), anonymous: true }, address);
    expect((await verified(limits, anonymous('203.0.113.5'))).status).toBe(200);
    expect((await verified(limits, anonymous('203.0.113.5'))).status).toBe(429);
    expect((await verified(limits, anonymous('203.0.113.6'))).status).toBe(200);
  });

  it('bounds memory when an attacker rotates addresses', async () => {
    const limits = createLimits({ perMinute: 1, maxBuckets: 50, now: manualClock().now });
    for (let index = 0; index < 2_000; index++) {
      await unauthenticated(limits, scope(`10.${index >> 16}.${(index >> 8) & 255}.${index & 255}`));
    }
    // The most recent addresses are still tracked and refused; the oldest were forgotten.
    expect((await unauthenticated(limits, scope('10.0.7.207'))).status).toBe(429);
    expect((await unauthenticated(limits, scope('10.0.0.0'))).status).toBe(401);
  });
});

describe('RATE_LIMIT_PER_MINUTE in the settings', () => {
  const baseEnv = {
    COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=http://127.0.0.1:1/;accesskey=a2V5',
    AUTH_ISSUER: 'http://127.0.0.1:2',
    AUTH_AUDIENCE: 'api://token-service',
  };

  it('defaults to 60 per minute, and an empty value (as App Service shows a cleared setting) counts as unset', () => {
    expect(loadSettings(baseEnv).rateLimit.perMinute).toBe(60);
    expect(loadSettings({ ...baseEnv, RATE_LIMIT_PER_MINUTE: '' }).rateLimit.perMinute).toBe(60);
    expect(loadSettings({ ...baseEnv, RATE_LIMIT_PER_MINUTE: '600' }).rateLimit.perMinute).toBe(600);
  });

  it('refuses anything but an integer from 1 to 100000, naming the setting', () => {
    for (const value of ['0', '-5', '1.5', 'lots', '100001']) {
      expect(() => loadSettings({ ...baseEnv, RATE_LIMIT_PER_MINUTE: value }), value).toThrow(
        'RATE_LIMIT_PER_MINUTE must be an integer from 1 to 100000',
      );
    }
  });
});

describe('the failed-authentication limit and a busy address', () => {
  it('holds a reservation only while verifying: many valid callers behind one address are not refused', async () => {
    const limits = createLimits({ perMinute: 3, now: manualClock().now });
    const bearer = { authorization: 'Bearer a.b.c' };
    // Each caller's verification ends before the next arrives, while every caller's operation is still running (a
    // slow ACS), as behind a busy NAT: the address's tokens came back when verification ended, not when ACS answers.
    const answers: HttpResponseInit[] = [];
    for (let index = 0; index < 50; index++) {
      answers.push(await authenticating(limits, scope('198.51.100.13', bearer), 'passes'));
    }
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
  });
});
