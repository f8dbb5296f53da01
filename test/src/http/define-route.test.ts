import functions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type DevIssuer, devUserIds, startDevIssuer } from '../../../dev/dev-issuer.js';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { defineRoute } from '../../../src/app-services.js';
import { ProblemError } from '../../../src/http/problem.js';
import { createServices, type Services } from '../../../src/services.js';
import { loadSettings } from '../../../src/settings.js';

const ADMIN_ROLE = 'Probe.Admin';
let emulator: RunningEmulator;
let issuer: DevIssuer;
let services: Services;
let withoutAdmins: Services;

beforeAll(async () => {
  emulator = await startEmulator();
  issuer = await startDevIssuer();
  const env = {
    COMMUNICATION_SERVICES_CONNECTION_STRING: emulator.connectionString,
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
  };
  services = createServices(loadSettings({ ...env, AUTH_ADMIN_ROLE: ADMIN_ROLE }), { log: () => undefined });
  withoutAdmins = createServices(loadSettings(env), { log: () => undefined });
});
afterAll(async () => {
  await issuer.close();
  await emulator.close();
});

function call(
  route: ReturnType<typeof defineRoute>,
  init: { method: string; query?: string; body?: string; token?: string; params?: Record<string, string> },
  using: Services = services,
) {
  const request = new functions.HttpRequest({
    method: init.method,
    url: `http://127.0.0.1/api/probe${init.query ?? ''}`,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: { string: init.body } } : {}),
    params: init.params ?? {},
  });
  const context = new functions.InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: 'probe',
  });
  return route.handler(request, context, { ready: true, services: using });
}

const tokenOf = (name: string, roles: string[] = []) => issuer.mint({ ...devUserIds(name), roles });
const docs = { summary: 'A probe', responses: { 200: { description: 'What it read.' } } };

describe('a route from its declaration', () => {
  const seen: unknown[] = [];
  const counted = defineRoute({
    name: 'probe',
    methods: ['GET', 'POST'],
    route: 'probe',
    access: 'user',
    inputs: {
      query: z.object({ n: z.string().transform(Number).pipe(z.number().int()) }),
      body: { schema: z.strictObject({ n: z.number().int() }) },
    },
    docs,
    operation: async (_scope, inputs) => {
      seen.push(inputs.query ?? inputs.body);
      return { status: 200 };
    },
  });

  it('hands the operation parsed inputs, and never runs it on inputs its schemas refuse', async () => {
    const token = await tokenOf('reader');
    expect((await call(counted, { method: 'GET', query: '?n=7', token })).status).toBe(200);
    expect((await call(counted, { method: 'POST', body: '{"n":8}', token })).status).toBe(200);
    expect(seen).toEqual([{ n: 7 }, { n: 8 }]);

    const refused = [
      await call(counted, { method: 'GET', query: '?n=x', token }),
      await call(counted, { method: 'GET', query: '?n=1&n=2', token }),
      await call(counted, { method: 'POST', body: '{"n":"8"}', token }),
      await call(counted, { method: 'POST', body: '{"n":8,"m":1}', token }),
    ];
    expect(refused.map((response) => response.status)).toEqual([400, 400, 400, 400]);
    expect(seen).toHaveLength(2);
  });

  it('authenticates before it reads any input', async () => {
    const response = await call(counted, { method: 'POST', body: 'not json' });
    expect(response.status).toBe(401);
  });

  it('checks availability before the inputs, and answers an empty required body with its own problem', async () => {
    const switchable = (on: boolean) =>
      defineRoute({
        name: 'probe',
        methods: ['POST'],
        route: 'probe',
        access: 'user',
        available: () => {
          if (!on) throw new ProblemError('not-found', 'Switched off.');
        },
        inputs: {
          body: { schema: z.strictObject({ n: z.number() }), missing: { detail: 'Send n.', field: 'n' } },
        },
        docs,
        operation: async () => ({ status: 204 }),
      });
    const token = await tokenOf('switcher');
    expect((await call(switchable(false), { method: 'POST', body: 'not json', token })).status).toBe(404);
    const missing = await call(switchable(true), { method: 'POST', token });
    expect(missing.status).toBe(400);
    expect(missing.jsonBody).toMatchObject({
      detail: 'Send n.',
      errors: [{ name: 'n', reason: 'is required' }],
    });
  });
});

describe('an admin route', () => {
  const acted: string[] = [];
  const adminRoute = defineRoute({
    name: 'probeAsAdmin',
    methods: ['POST'],
    route: '{area}/probe/{userId}',
    access: { admin: 'identity.revoke' },
    inputs: { params: z.object({ area: z.literal('admin'), userId: z.string().min(1) }) },
    docs,
    operation: async (_scope, inputs) => {
      acted.push(inputs.params?.userId ?? '');
      return { status: 204 };
    },
  });

  it('is an unknown path while AUTH_ADMIN_ROLE is unset or the area is not admin, before authentication', async () => {
    const off = await call(
      adminRoute,
      { method: 'POST', params: { area: 'admin', userId: 'u' } },
      withoutAdmins,
    );
    const elsewhere = await call(adminRoute, { method: 'POST', params: { area: 'other', userId: 'u' } });
    expect([off.status, elsewhere.status]).toEqual([404, 404]);
  });

  it('refuses a caller without the role (403) and serves one with it, the area matched case-insensitively', async () => {
    const params = { area: 'ADMIN', userId: 'someone' };
    const refused = await call(adminRoute, { method: 'POST', params, token: await tokenOf('plain') });
    expect(refused.status).toBe(403);
    expect(acted).toEqual([]);
    const served = await call(adminRoute, {
      method: 'POST',
      params,
      token: await tokenOf('boss', [ADMIN_ROLE]),
    });
    expect(served.status).toBe(204);
    expect(acted).toEqual(['someone']);
  });
});
