import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_MAX_AGE_SECONDS } from '../../../src/functions/openapi.js';
import { buildOpenApiDocument, type OpenApiDocument } from '../../../src/openapi/document.js';
import { routes } from '../../../src/routes.js';
import { servicesFromEnvironment } from '../../../src/services.js';
import { type Contract, loadContract, observe } from '../../support/openapi-contract.js';
import { callApp, type RunningService, startService } from '../../support/service.js';

const ALLOWED_ORIGIN = 'https://app.example.com';
const ADMIN_ROLE = 'TokenService.Admin';
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'] as const;

interface DocumentedOperation {
  method: string;
  template: string;
  security: unknown[];
}

function operationsOf(document: OpenApiDocument): DocumentedOperation[] {
  return Object.entries(document.paths).flatMap(([template, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => ({
      method: method.toUpperCase(),
      template,
      security: (item[method] as { security: unknown[] }).security,
    })),
  );
}

/** A concrete path for a template: each remaining parameter gets a plausible value. */
const samplePath = (template: string) => template.replace(/\{[^}]+\}/g, 'someone');

describe('GET /api/openapi.json', () => {
  let service: RunningService;
  let contract: Contract;
  const served = () => service.call('openapi.json');

  beforeAll(async () => {
    service = await startService({
      env: {
        APP_CORS_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
        AUTH_ADMIN_ROLE: ADMIN_ROLE,
        TEAMS_CLIENT_ID: undefined,
      },
    });
    contract = await loadContract(buildOpenApiDocument(routes));
  });
  afterAll(() => service.close());

  it('serves the document of the route table to anyone, cacheable and revalidated by ETag', async () => {
    const response = await served();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe(`public, max-age=${OPENAPI_MAX_AGE_SECONDS}`);
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const body = (await response.json()) as OpenApiDocument;
    expect(body).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument(routes))));

    const again = await service.call('openapi.json', { headers: { 'If-None-Match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    const changed = await service.call('openapi.json', { headers: { 'If-None-Match': '"older"' } });
    expect(changed.status).toBe(200);
    await changed.arrayBuffer();
  });

  it('reveals no setting of the deployment', async () => {
    const text = await (await served()).text();
    const values = Object.values(service.env).filter((value) => value.length >= 12);
    expect(values.length).toBeGreaterThan(2);
    for (const value of values) expect(text).not.toContain(value);
    expect(text).not.toContain(service.emulator.accessKey);
    expect(text).not.toContain(String(service.host.port));
  });

  it('is what every operation answers to a caller without credentials: 401 exactly where security is declared', async () => {
    const operations = operationsOf(buildOpenApiDocument(routes));
    expect(operations.length).toBeGreaterThanOrEqual(routes.length - 1);
    const violations: string[] = [];
    for (const { method, template, security } of operations) {
      const path = samplePath(template);
      const response = await observe(await service.call(path, { method }));
      violations.push(...contract.violations(method, path, response));
      const verifies = security.length > 0;
      if (verifies !== (response.status === 401)) {
        violations.push(
          `${method} ${path}: security ${verifies ? 'declared' : 'absent'}, answered ${response.status}`,
        );
      }
    }
    expect(violations).toEqual([]);
  });

  it('is what every operation answers to a signed-in user who sends nothing else', async () => {
    const token = await service.tokenFor('contract-user');
    const violations: string[] = [];
    for (const { method, template } of operationsOf(buildOpenApiDocument(routes))) {
      const path = samplePath(template);
      const response = await service.call(path, {
        method,
        headers: { Authorization: `Bearer ${token}` },
      });
      violations.push(...contract.violations(method, path, await observe(response)));
    }
    expect(violations).toEqual([]);
  });

  it('is what the token endpoint answers, successes and problems alike', async () => {
    const token = await service.tokenFor('contract-tokens');
    const auth = { Authorization: `Bearer ${token}` };
    const json = { ...auth, 'Content-Type': 'application/json' };
    const cases: { method: string; path: string; init?: RequestInit; status: number }[] = [
      { method: 'POST', path: '/token', init: { headers: json, body: '{"scopes":["chat"]}' }, status: 200 },
      { method: 'POST', path: '/token', init: { headers: auth }, status: 200 },
      { method: 'GET', path: '/token?scopes=chat,voip&expiresInMinutes=90', status: 200 },
      { method: 'GET', path: '/token?expiresInMinutes=9', status: 400 },
      {
        method: 'POST',
        path: '/token',
        init: { headers: json, body: '{"expiresInMinutes":5}' },
        status: 400,
      },
      {
        method: 'POST',
        path: '/token',
        init: { headers: json, body: '{"scopes":["chat.join"]}' },
        status: 403,
      },
      {
        method: 'POST',
        path: '/token',
        init: { headers: { ...auth, 'Content-Type': 'text/plain' }, body: 'x' },
        status: 415,
      },
      { method: 'POST', path: '/token', init: { headers: json, body: 'x'.repeat(17 * 1024) }, status: 413 },
      { method: 'GET', path: '/health', status: 200 },
      {
        method: 'OPTIONS',
        path: '/token',
        init: { headers: { Origin: ALLOWED_ORIGIN, 'Access-Control-Request-Method': 'POST' } },
        status: 204,
      },
    ];
    for (const { method, path, init, status } of cases) {
      const response = await service.call(path, {
        method,
        ...init,
        headers: { ...(method === 'GET' ? auth : {}), ...(init?.headers as Record<string, string>) },
      });
      const pathOnly = path.split('?')[0]!;
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(contract.violations(method, pathOnly, await observe(response))).toEqual([]);
    }
  });

  it('is what the token endpoint answers when ACS fails', async () => {
    service.emulator.setFaults({ failRate: 1, failStatus: 503 });
    try {
      const response = await service.requestToken('contract-acs-down');
      expect(response.status).toBe(503);
      expect(contract.violations('POST', '/token', await observe(response))).toEqual([]);
    } finally {
      service.emulator.setFaults({ failRate: 0 });
    }
  });

  it('answers unknown paths and methods with the documented 404 and 405 problems', async () => {
    const notFound = await observe(await service.call('no/such/route'));
    expect(notFound.status).toBe(404);
    expect(contract.component('Problem')(notFound.body)).toBe(true);
    const wrongMethod = await observe(await service.call('health', { method: 'DELETE' }));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('GET');
    expect(contract.component('Problem')(wrongMethod.body)).toBe(true);
  });
});

describe('GET /api/openapi.json under rate limits and bad settings', () => {
  it('answers a documented 429 once an address has failed authentication too often', async () => {
    const service = await startService({ env: { RATE_LIMIT_PER_MINUTE: '2' } });
    try {
      const contract = await loadContract(buildOpenApiDocument(routes));
      let last: Response | undefined;
      for (let attempt = 0; attempt < 4; attempt++) {
        last = await service.call('token', { method: 'POST' });
        if (last.status === 429) break;
        await last.arrayBuffer();
      }
      expect(last?.status).toBe(429);
      expect(contract.violations('POST', '/token', await observe(last!))).toEqual([]);
    } finally {
      await service.close();
    }
  });

  it('answers a documented 503 problem while the settings are invalid', async () => {
    const services = servicesFromEnvironment({ AUTH_MODE: 'jwt' }, { log: () => {} });
    const contract = await loadContract(buildOpenApiDocument(routes));
    const response = await callApp(services, 'openapi.json');
    expect(response.status).toBe(503);
    expect(contract.violations('GET', '/openapi.json', await observe(response))).toEqual([]);
  });
});
