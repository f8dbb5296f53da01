import functions, { type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../src/caller/principal.js';
import type { AuthenticatedScope, RequestPolicy, RequestScope } from '../../../src/http/pipeline.js';
import { PROBLEM_CONTENT_TYPE } from '../../../src/http/problem.js';
import { createRateLimitPolicy } from '../../../src/http/rate-limit.js';
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
  return {
    request: new functions.HttpRequest({
      method: 'POST',
      url: 'http://127.0.0.1/api/token',
      headers: { ...(address ? { 'x-forwarded-for': `${address}:50000` } : {}), ...credentials },
    }),
    context: new functions.InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: 'issueToken',
    }),
    // The rate limit reads only the request, the invocation id and the caller.
    services: undefined as never,
    acs: undefined as never,
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

/** A verified request as the pipeline runs it: before, after, then decorate with the operation's answer. */
async function verified(policy: RequestPolicy, authenticated: AuthenticatedScope) {
  const response =
    (await policy.beforeAuthentication?.(authenticated)) ??
    (await policy.afterAuthentication?.(authenticated)) ??
    ({ status: 200 } satisfies HttpResponseInit);
  return policy.decorate?.(authenticated, response) ?? response;
}

/** A request whose authentication fails: before, then decorate with the pipeline's 401. */
async function unauthenticated(policy: RequestPolicy, requestScope: RequestScope) {
  const response = (await policy.beforeAuthentication?.(requestScope)) ?? { status: 401 };
  return policy.decorate?.(requestScope, response) ?? response;
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

describe('the rate limit policy', () => {
  it('lets a user spend RATE_LIMIT_PER_MINUTE at once, then answers 429 with Retry-After until a token refills', async () => {
    const clock = manualClock();
    const policy = createRateLimitPolicy({ perMinute: 3, now: clock.now });
    for (let index = 0; index < 3; index++) expect((await verified(policy, as({}))).status).toBe(200);
    expectTooMany(await verified(policy, as({})), '20');
    clock.advance(15_000);
    expectTooMany(await verified(policy, as({})), '5');
    clock.advance(5_000);
    expect((await verified(policy, as({}))).status).toBe(200);
    expect((await verified(policy, as({}))).status).toBe(429);
  });

  it('keys users by issuer and user id, not by address', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    expect((await verified(policy, as({ userId: 'alice' }, '203.0.113.1'))).status).toBe(200);
    expect((await verified(policy, as({ userId: 'alice' }, '203.0.113.2'))).status).toBe(429);
    expect((await verified(policy, as({ userId: 'bob' }, '203.0.113.1'))).status).toBe(200);
    expect((await verified(policy, as({ userId: 'alice', issuer: 'https://other.example' }))).status).toBe(
      200,
    );
  });

  it('limits failed authentications per client address, refusing before verification once spent', async () => {
    const clock = manualClock();
    const policy = createRateLimitPolicy({ perMinute: 2, now: clock.now });
    expect((await unauthenticated(policy, scope('198.51.100.7'))).status).toBe(401);
    expect((await unauthenticated(policy, scope('198.51.100.7'))).status).toBe(401);
    expectTooMany(await unauthenticated(policy, scope('198.51.100.7')), '30');
    // Other addresses are not affected; a verified user behind the spent address waits like everyone there.
    expect((await unauthenticated(policy, scope('198.51.100.8'))).status).toBe(401);
    expectTooMany(await verified(policy, as({ userId: 'carol' }, '198.51.100.7')), '30');
    clock.advance(30_000);
    expect((await verified(policy, as({ userId: 'carol' }, '198.51.100.7'))).status).toBe(200);
  });

  it('does not charge an address for requests that authenticate or fail otherwise', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    for (const status of [200, 400, 403, 404, 429, 503]) {
      policy.decorate?.(scope('198.51.100.9'), { status, headers: { 'Retry-After': '5' } });
    }
    expect((await unauthenticated(policy, scope('198.51.100.9'))).status).toBe(401);
  });

  it('charges an address for a token that lacks the required scope (403 with a Bearer challenge)', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    policy.decorate?.(scope('198.51.100.10'), {
      status: 403,
      headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' },
    });
    expectTooMany(await unauthenticated(policy, scope('198.51.100.10')), '60');
  });

  it('reserves the address token before verifying sent credentials: many at once get at most a bucket of verifications', async () => {
    const policy = createRateLimitPolicy({ perMinute: 3, now: manualClock().now });
    const bearer = { authorization: 'Bearer a.b.c' };
    // All arrive before any verification ends: only the first three may go on to verify.
    const arriving = Array.from({ length: 50 }, () => scope('198.51.100.11', bearer));
    const early = await Promise.all(arriving.map((each) => policy.beforeAuthentication?.(each)));
    expect(early.filter((response) => response === undefined)).toHaveLength(3);
    expect(early.filter((response) => response?.status === 429)).toHaveLength(47);
    for (const [index, each] of arriving.entries()) {
      if (early[index] === undefined) policy.decorate?.(each, { status: 401 });
    }
    expectTooMany(await unauthenticated(policy, scope('198.51.100.11', bearer)), '20');
  });

  it('gives the reserved token back when the credentials pass (or the request fails for another reason)', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    const easyAuth = { 'x-ms-client-principal': 'e30=' };
    for (const status of [200, 400, 403, 429, 503]) {
      const request = scope('198.51.100.12', easyAuth);
      expect(await policy.beforeAuthentication?.(request)).toBeUndefined();
      policy.decorate?.(request, { status });
    }
    expect((await unauthenticated(policy, scope('198.51.100.12', easyAuth))).status).toBe(401);
    expect((await unauthenticated(policy, scope('198.51.100.12', easyAuth))).status).toBe(429);
  });

  it('keeps per-user buckets in the given store', async () => {
    const keys: string[] = [];
    const policy = createRateLimitPolicy({
      perMinute: 1,
      users: {
        take: async (key) => {
          keys.push(key);
          return { allowed: false, retryAfterSeconds: 7 };
        },
      },
    });
    expectTooMany(await verified(policy, as({ userId: 'dave' })), '7');
    expect(keys).toEqual([JSON.stringify(['https://issuer.example', 'dave'])]);
  });

  it('puts requests without a readable address in one shared bucket rather than letting them escape', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    expect((await unauthenticated(policy, scope())).status).toBe(401);
    expect((await unauthenticated(policy, scope())).status).toBe(429);
  });

  it('limits anonymous callers (a new random user each call) by their address', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, now: manualClock().now });
    const anonymous = (address: string) => as({ userId: crypto.randomUUID(), anonymous: true }, address);
    expect((await verified(policy, anonymous('203.0.113.5'))).status).toBe(200);
    expect((await verified(policy, anonymous('203.0.113.5'))).status).toBe(429);
    expect((await verified(policy, anonymous('203.0.113.6'))).status).toBe(200);
  });

  it('bounds memory when an attacker rotates addresses', async () => {
    const policy = createRateLimitPolicy({ perMinute: 1, maxBuckets: 50, now: manualClock().now });
    for (let index = 0; index < 2_000; index++) {
      await unauthenticated(policy, scope(`10.${index >> 16}.${(index >> 8) & 255}.${index & 255}`));
    }
    // The most recent addresses are still tracked and refused; the oldest were forgotten.
    expect((await unauthenticated(policy, scope('10.0.7.207'))).status).toBe(429);
    expect((await unauthenticated(policy, scope('10.0.0.0'))).status).toBe(401);
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
