import functions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevIssuer, devUserIds, startDevIssuer } from '../../../dev/dev-issuer.js';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { authenticated, open, type Step } from '../../../src/http/pipeline.js';
import { createServices, type Services } from '../../../src/services.js';
import { loadSettings } from '../../../src/settings.js';

let emulator: RunningEmulator;
let issuer: DevIssuer;
let services: Services;
const logLines: string[] = [];

beforeAll(async () => {
  emulator = await startEmulator();
  issuer = await startDevIssuer();
  services = createServices(
    loadSettings({
      COMMUNICATION_SERVICES_CONNECTION_STRING: emulator.connectionString,
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: issuer.audience,
      AUTH_REQUIRED_SCOPE: 'Token.Issue',
    }),
    { log: () => undefined },
  );
});
afterAll(async () => {
  await issuer.close();
  await emulator.close();
});

function context() {
  return new functions.InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: 'probe',
    logHandler: (_level, ...args) => logLines.push(args.join(' ')),
  });
}

function request(token?: string) {
  return new functions.HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1/api/probe',
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

const echoCaller = authenticated(async ({ caller }) => ({
  status: 200,
  jsonBody: { userId: caller.userId },
}));

describe('the request pipeline', () => {
  it('lets a caller with the required scope or role through', async () => {
    for (const claims of [{ scp: 'other Token.Issue' }, { roles: ['Token.Issue'] }]) {
      const token = await issuer.mint({ ...devUserIds('scoped'), ...claims });
      const response = await echoCaller(request(token), context(), { ready: true, services });
      expect(response.status).toBe(200);
      expect(response.jsonBody).toEqual({ userId: devUserIds('scoped').oid });
    }
  });

  it('answers 403 insufficient_scope when the token lacks the required scope', async () => {
    const token = await issuer.mint({ ...devUserIds('unscoped'), scp: 'Token.Read' });
    const response = await echoCaller(request(token), context(), { ready: true, services });
    expect(response.status).toBe(403);
    expect(new Headers(response.headers as Record<string, string>).get('www-authenticate')).toBe(
      'Bearer error="insufficient_scope"',
    );
  });

  it('runs the steps in order around the operation, each seeing the answer on its way out, errors included', async () => {
    const calls: string[] = [];
    const recording =
      (name: string): Step =>
      async (scope, next) => {
        calls.push(`${name}:in`);
        if (name === 'cors' && scope.request.method === 'OPTIONS') return { status: 204 };
        const response = await next();
        calls.push(`${name}:out:${response.status}`);
        return name === 'cors'
          ? { ...response, headers: { ...(response.headers as Record<string, string>), 'X-Step': 'yes' } }
          : response;
      };
    const userLimit: Step = async ({ caller }, next) => {
      calls.push(`userLimit:${caller?.userId === devUserIds('limited').oid}`);
      return caller?.userId === devUserIds('limited').oid ? { status: 429 } : next();
    };
    const steps = { cors: recording('cors'), userLimit };
    const withSteps = { ready: true as const, services: { ...services, steps } };

    const preflight = await echoCaller(
      new functions.HttpRequest({ method: 'OPTIONS', url: 'http://127.0.0.1/api/probe' }),
      context(),
      withSteps,
    );
    expect(preflight.status).toBe(204);
    expect(calls.splice(0)).toEqual(['cors:in']);

    const token = await issuer.mint({ ...devUserIds('limited'), scp: 'Token.Issue' });
    expect((await echoCaller(request(token), context(), withSteps)).status).toBe(429);
    expect(calls.splice(0)).toEqual(['cors:in', 'userLimit:true', 'cors:out:429']);

    // The authenticate step's error reaches the steps before it as a 401 answer, never as an exception.
    const refused = await echoCaller(request(), context(), withSteps);
    expect(refused.status).toBe(401);
    expect(new Headers(refused.headers as Record<string, string>).get('x-step')).toBe('yes');
    expect(calls.splice(0)).toEqual(['cors:in', 'cors:out:401']);
  });

  it('turns an unexpected error into a 500 problem without its message, and logs no message either', async () => {
    const failing = open(async () => {
      throw new Error('connection string AccountKey=c2VjcmV0');
    });
    const response = await failing(request(), context(), { ready: true, services });
    expect(response.status).toBe(500);
    expect(JSON.stringify(response.jsonBody)).not.toContain('AccountKey');
    expect(response.jsonBody).toMatchObject({ detail: 'An unexpected error occurred.' });
    expect(logLines.join('\n')).not.toContain('AccountKey');
    expect(logLines.some((line) => line.includes('unexpected_error'))).toBe(true);
  });

  it('answers 503 misconfigured when the services could not be built', async () => {
    const response = await echoCaller(request(), context(), { ready: false, settingNames: ['AUTH_ISSUER'] });
    expect(response.status).toBe(503);
    expect(JSON.stringify(response.jsonBody)).not.toContain('AUTH_ISSUER');
  });
});
