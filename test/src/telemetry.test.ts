import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import { problem } from '../../src/http/problem.js';
import { outcomeOf, REQUEST_EVENT, requestLogLine } from '../../src/telemetry.js';
import { LogCapture } from '../support/log-capture.js';
import { type RunningService, startService } from '../support/service.js';

/** POST /api/token as `user`, in-process: the request log line is what these tests read, not the socket. */
async function tokenRequest(service: RunningService, user: string, body?: unknown): Promise<Response> {
  return service.call('token', {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${await service.tokenFor(user)}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The fields docs/observability.md's queries read; a rename must show up here first. */
interface RequestLine {
  event: string;
  invocationId: string;
  route: string;
  method: string;
  status: number;
  outcome: string;
  reason?: string;
  latencyMs: number;
  user?: string;
  acsCalls: number;
  acsErrors: number;
  acsLatencyMs: number;
  acs?: { outcome: string; ms: number }[];
  tokensIssued: number;
  tokensReused: number;
}

/** The oid the dev issuer gives a user name: the user id the service maps. */
const devOid = (user: string) => devUserIds(user).oid;

function requestLines(service: RunningService): RequestLine[] {
  return service.logs
    .map(({ line }) => line)
    .filter((line) => line.startsWith(`{"event":"${REQUEST_EVENT}"`))
    .map((line) => JSON.parse(line) as RequestLine);
}

/** The line of the request that answered with `invocationId` (every problem carries it). */
function lineOf(service: RunningService, invocationId: string): RequestLine {
  const line = requestLines(service).find((candidate) => candidate.invocationId === invocationId);
  if (!line) throw new Error(`no request line for ${invocationId}`);
  return line;
}

/** The latest request line (the requests of these tests run one at a time). */
function lastLine(service: RunningService): RequestLine {
  const line = requestLines(service).at(-1);
  if (!line) throw new Error('no request line');
  return line;
}

/** What the documented KQL computes, over the lines of one host. */
function counters(lines: readonly RequestLine[]) {
  const denied: Record<string, number> = {};
  for (const line of lines.filter(({ status }) => [401, 403, 429].includes(status))) {
    const key = `${line.outcome}/${line.reason ?? ''}`;
    denied[key] = (denied[key] ?? 0) + 1;
  }
  return {
    tokensIssued: lines.reduce((sum, line) => sum + line.tokensIssued, 0),
    tokensReused: lines.reduce((sum, line) => sum + line.tokensReused, 0),
    acsErrors: lines.reduce((sum, line) => sum + line.acsErrors, 0),
    denied,
  };
}

describe('the request log line', () => {
  let service: RunningService;
  const capture = new LogCapture();

  beforeAll(async () => {
    service = await startService({ env: { TOKEN_ALLOWED_SCOPES: 'chat,voip', TOKEN_REUSE: 'true' } });
    capture.adopt(service.logs);
    capture.secret('ACS connection string', service.env.COMMUNICATION_SERVICES_CONNECTION_STRING);
    capture.secret('ACS access key', service.emulator.accessKey);
  });
  afterAll(() => service.close());

  it('carries invocation id, route, outcome, status, latency, hashed user and ACS usage', async () => {
    const response = await tokenRequest(service, 'telemetry-first', { scopes: ['chat'] });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    capture.secret('ACS token', token);
    const line = lastLine(service);
    expect(line).toMatchObject({
      event: 'request',
      route: 'issueToken',
      method: 'POST',
      status: 200,
      outcome: 'ok',
      acsCalls: 1,
      acsErrors: 0,
      tokensIssued: 1,
      tokensReused: 0,
      acs: [{ outcome: 'ok', ms: expect.any(Number) }],
    });
    expect(line.invocationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(line.user).toBe(
      LogCapture.hashOf({ issuer: service.issuer.issuer, userId: devOid('telemetry-first') }),
    );
    expect(line.latencyMs).toBeGreaterThanOrEqual(line.acsLatencyMs);
  });

  it('counts a token handed back again as reused, with no ACS call', async () => {
    const first = await tokenRequest(service, 'telemetry-reuse', { scopes: ['voip'] });
    const again = await tokenRequest(service, 'telemetry-reuse', { scopes: ['voip'] });
    const [issued, reused] = [await first.json(), await again.json()] as { token: string }[];
    expect(reused!.token).toBe(issued!.token);
    expect(lastLine(service)).toMatchObject({
      status: 200,
      acsCalls: 0,
      acsLatencyMs: 0,
      tokensIssued: 0,
      tokensReused: 1,
    });
    expect(lastLine(service).acs).toBeUndefined();
  });

  it('names why a request was denied: the problem kind, and a code where one is known', async () => {
    const anonymous = await service.call('token', { method: 'POST' });
    const { invocationId: noToken } = (await anonymous.json()) as { invocationId: string };
    expect(lineOf(service, noToken)).toMatchObject({
      status: 401,
      outcome: 'unauthenticated',
      reason: 'no_token',
    });

    const expired = await service.tokenFor('telemetry-expired', {}, { expiresInSeconds: -3600 });
    const refused = await service.call('token', { headers: { Authorization: `Bearer ${expired}` } });
    const { invocationId: expiredId } = (await refused.json()) as { invocationId: string };
    expect(lineOf(service, expiredId)).toMatchObject({ status: 401, outcome: 'unauthenticated' });
    expect(lineOf(service, expiredId).reason).toMatch(/^[A-Za-z_]+$/);

    const forbidden = await tokenRequest(service, 'telemetry-forbidden', { scopes: ['chat.join'] });
    const { invocationId: forbiddenId } = (await forbidden.json()) as { invocationId: string };
    expect(lineOf(service, forbiddenId)).toMatchObject({
      status: 403,
      outcome: 'forbidden',
      reason: 'scope_not_allowed',
      acsCalls: 0,
    });

    const invalid = await tokenRequest(service, 'telemetry-invalid', { expiresInMinutes: 5 });
    const { invocationId: invalidId } = (await invalid.json()) as { invocationId: string };
    expect(lineOf(service, invalidId)).toMatchObject({ status: 400, outcome: 'invalid-request' });
  });

  it('records each failed ACS call with its reason, retries included', async () => {
    service.emulator.setFaults({ failRate: 1, failStatus: 500 });
    try {
      const response = await tokenRequest(service, 'telemetry-acs-500');
      const { invocationId } = (await response.json()) as { invocationId: string };
      expect(lineOf(service, invocationId)).toMatchObject({
        status: 503,
        outcome: 'acs_unavailable',
        reason: 'acs_500',
        acsCalls: 2,
        acsErrors: 2,
        tokensIssued: 0,
        acs: [
          { outcome: 'acs_500', ms: expect.any(Number) },
          { outcome: 'acs_500', ms: expect.any(Number) },
        ],
      });
      service.emulator.setFaults({ failRate: 1, failStatus: 429 });
      const throttled = await tokenRequest(service, 'telemetry-acs-429');
      const { invocationId: throttledId } = (await throttled.json()) as { invocationId: string };
      expect(lineOf(service, throttledId)).toMatchObject({
        status: 503,
        reason: 'acs_429',
        acsErrors: 1,
        acs: [{ outcome: 'acs_429' }],
      });
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
  });

  it('measures the time spent in ACS, at least the latency ACS adds', async () => {
    service.emulator.setFaults({ latencyMs: 120 });
    try {
      expect((await tokenRequest(service, 'telemetry-slow-acs')).status).toBe(200);
    } finally {
      service.emulator.setFaults({ latencyMs: 0 });
    }
    const line = lastLine(service);
    expect(line.acsLatencyMs).toBeGreaterThanOrEqual(110);
    expect(line.acs?.[0]?.ms).toBe(line.acsLatencyMs);
    expect(line.latencyMs).toBeGreaterThanOrEqual(line.acsLatencyMs);
  });

  it('adds up to what ACS saw: tokens issued by ACS equal the tokens the lines count', async () => {
    const stats = await service.emulatorStats();
    const totals = counters(requestLines(service));
    expect(totals.tokensIssued).toBe(stats.operations.createIdentity + stats.operations.issueToken);
    expect(totals.tokensReused).toBeGreaterThanOrEqual(1);
    expect(totals.acsErrors).toBe(3);
    expect(totals.denied).toMatchObject({ 'unauthenticated/no_token': 1, 'forbidden/scope_not_allowed': 1 });
  });

  it('holds no secret, no token and no raw user id', () => {
    capture.user({ issuer: service.issuer.issuer, userId: devOid('telemetry-first'), aliases: [] });
    expect(capture.secretCount).toBeGreaterThanOrEqual(3);
    expect(capture.scan()).toEqual([]);
  });
});

describe('denials by the rate limit and the required scope', () => {
  it('names the refusal of a policy (429) and of a missing required scope (403)', async () => {
    const service = await startService({
      env: { RATE_LIMIT_PER_MINUTE: '1', AUTH_REQUIRED_SCOPE: 'Tokens.Issue' },
    });
    try {
      const lacking = await tokenRequest(service, 'telemetry-scope');
      const { invocationId } = (await lacking.json()) as { invocationId: string };
      expect(lineOf(service, invocationId)).toMatchObject({
        status: 403,
        outcome: 'forbidden',
        reason: 'insufficient_scope',
      });
      const limited = await tokenRequest(service, 'telemetry-scope');
      expect(limited.status).toBe(429);
      const { invocationId: limitedId } = (await limited.json()) as { invocationId: string };
      expect(lineOf(service, limitedId)).toMatchObject({ status: 429, outcome: 'too-many-requests' });
    } finally {
      await service.close();
    }
  });
});

describe('requestLogLine', () => {
  const base = { invocationId: 'id', route: 'issueToken', method: 'GET', latencyMs: 12.6 };

  it('derives the outcome from the problem answered when the pipeline did not classify it', () => {
    const limited = problem({ type: 'too-many-requests', detail: 'Slow down.', invocationId: 'id' });
    expect(outcomeOf(limited)).toBe('too-many-requests');
    expect(outcomeOf({ status: 204 })).toBe('ok');
    expect(outcomeOf({ status: 404, body: 'no' })).toBe('refused');
    expect(requestLogLine({ ...base, response: limited })).toMatchObject({
      status: 429,
      outcome: 'too-many-requests',
      latencyMs: 13,
      acsCalls: 0,
      acsErrors: 0,
      acsLatencyMs: 0,
      tokensIssued: 0,
      tokensReused: 0,
    });
  });

  it('sums the ACS attempts and hashes the caller', () => {
    const line = requestLogLine({
      ...base,
      response: { status: 200 },
      caller: { issuer: 'https://issuer', userId: 'alice', roles: [], scopes: [], anonymous: false },
      acs: {
        calls: 2,
        attempts: [
          { outcome: 'acs_500', ms: 10.4 },
          { outcome: 'ok', ms: 20.4 },
        ],
        tokensIssued: 1,
        tokensReused: 0,
      },
    });
    expect(line).toMatchObject({ acsCalls: 2, acsErrors: 1, acsLatencyMs: 31, tokensIssued: 1 });
    expect(line.user).toBe(LogCapture.hashOf({ issuer: 'https://issuer', userId: 'alice' }));
    expect(JSON.stringify(line)).not.toContain('alice');
  });
});
