/**
 * The preprovision hook's Entra registration and checks (scripts/azd/). Microsoft Graph cannot be reached here, so
 * the requests go to a small fake Graph on loopback that follows the documented shapes, each from the Graph v1.0
 * reference: application-upsert (PATCH /applications(uniqueName='…') with `Prefer: create-if-missing`: 201 with the
 * object when created, 204 when updated, 404 without the header), application-get by uniqueName,
 * application-update (PATCH /applications/{id}), serviceprincipal-get by appId (404 when missing) and
 * serviceprincipal-post-serviceprincipals (POST /servicePrincipals { appId }). What a real tenant does beyond these
 * shapes (consent, policies that forbid app registration) was not run.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, API_SCOPE, ensureEntraApp } from '../../scripts/azd/entra-app.js';
import {
  deploymentProblems,
  mappedVariables,
  registerEntraApp,
  registersEntraApp,
} from '../../scripts/azd/preprovision.js';

interface Recorded {
  method: string;
  path: string;
  prefer?: string;
  body?: Record<string, unknown>;
}

/** Applications by uniqueName and service principals by appId, as Graph keeps them. */
function fakeGraph() {
  const applications = new Map<string, Record<string, unknown>>();
  const servicePrincipals = new Map<string, { id: string; appId: string }>();
  const requests: Recorded[] = [];
  const read = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  };
  const server = createServer(async (request, response) => {
    const url = decodeURIComponent(request.url ?? '');
    const path = url.replace(/^\/v1\.0/, '').split('?')[0]!;
    const body = await read(request);
    requests.push({ method: request.method!, path, prefer: request.headers.prefer as string, body });
    const send = (status: number, json?: unknown) => {
      response.writeHead(status, json ? { 'content-type': 'application/json' } : {});
      response.end(json ? JSON.stringify(json) : undefined);
    };
    if (request.headers.authorization !== `Bearer ${TOKEN}`)
      return send(401, { error: { code: 'InvalidAuthenticationToken' } });
    const byName = /^\/applications\(uniqueName='(.+)'\)$/.exec(path);
    if (byName && request.method === 'PATCH') {
      const existing = applications.get(byName[1]!);
      if (existing) {
        Object.assign(existing, body);
        return send(204);
      }
      if (request.headers.prefer !== 'create-if-missing')
        return send(404, { error: { code: 'Request_ResourceNotFound' } });
      if (!body?.displayName)
        return send(400, { error: { code: 'Request_BadRequest', message: 'displayName' } });
      const created = {
        ...body,
        id: randomUUID(),
        appId: randomUUID(),
        uniqueName: byName[1],
        identifierUris: [],
      };
      applications.set(byName[1]!, created);
      return send(201, created);
    }
    if (byName && request.method === 'GET') {
      const app = applications.get(byName[1]!);
      return app ? send(200, app) : send(404, { error: { code: 'Request_ResourceNotFound' } });
    }
    const byId = /^\/applications\/([0-9a-f-]+)$/.exec(path);
    if (byId && request.method === 'PATCH') {
      const app = [...applications.values()].find((candidate) => candidate.id === byId[1]);
      if (!app) return send(404);
      Object.assign(app, body);
      return send(204);
    }
    const sp = /^\/servicePrincipals\(appId='(.+)'\)$/.exec(path);
    if (sp && request.method === 'GET') {
      const found = servicePrincipals.get(sp[1]!);
      return found ? send(200, found) : send(404, { error: { code: 'Request_ResourceNotFound' } });
    }
    if (path === '/servicePrincipals' && request.method === 'POST') {
      const appId = String(body?.appId);
      if (servicePrincipals.has(appId))
        return send(409, { error: { code: 'Request_MultipleObjectsWithSameKeyValue' } });
      const created = { id: randomUUID(), appId };
      servicePrincipals.set(appId, created);
      return send(201, created);
    }
    return send(400, {
      error: { code: 'Request_BadRequest', message: `unexpected ${request.method} ${path}` },
    });
  });
  return { server, applications, servicePrincipals, requests };
}

const TENANT = '11111111-2222-3333-4444-555555555555';
const TOKEN = new UnsecuredJWT({ tid: TENANT, aud: 'https://graph.microsoft.com' }).encode();

let graph: ReturnType<typeof fakeGraph>;
let graphUrl: string;

beforeAll(async () => {
  graph = fakeGraph();
  await new Promise<void>((resolve) => graph.server.listen(0, '127.0.0.1', resolve));
  graphUrl = `http://127.0.0.1:${(graph.server.address() as AddressInfo).port}/v1.0`;
});
afterAll(async () => {
  await new Promise((resolve) => graph.server.close(resolve));
});
beforeEach(() => {
  graph.requests.length = 0;
});

describe('the Entra application, against a fake Graph with the documented request shapes', () => {
  const request = {
    uniqueName: 'acs-token-service-dev-0a1b2c3d',
    displayName: 'ACS token service (dev)',
    spaRedirectUris: ['https://app.contoso.com'],
  };

  it('creates it with an upsert, then sets api://<appId> and creates the service principal', async () => {
    const app = await ensureEntraApp(request, { token: TOKEN, graphUrl });
    expect(graph.requests.map(({ method, path }) => `${method} ${path}`)).toEqual([
      `PATCH /applications(uniqueName='${request.uniqueName}')`,
      `GET /applications(uniqueName='${request.uniqueName}')`,
      `PATCH /applications/${app.objectId}`,
      `GET /servicePrincipals(appId='${app.appId}')`,
      'POST /servicePrincipals',
    ]);
    expect(graph.requests[0]!.prefer).toBe('create-if-missing');
    const body = graph.requests[0]!.body;
    expect(body).toMatchObject({
      displayName: request.displayName,
      signInAudience: 'AzureADMyOrg',
      isFallbackPublicClient: true,
      api: {
        requestedAccessTokenVersion: 2,
        oauth2PermissionScopes: [{ value: API_SCOPE, type: 'User', isEnabled: true }],
      },
      appRoles: [{ value: ADMIN_ROLE, allowedMemberTypes: ['User'], isEnabled: true }],
      spa: { redirectUris: ['https://app.contoso.com'] },
    });
    expect(graph.requests[2]!.body).toEqual({ identifierUris: [`api://${app.appId}`] });
    expect(app.scope).toBe(`api://${app.appId}/${API_SCOPE}`);
  });

  it('updates the same application on the next run: no second application, no second service principal', async () => {
    const first = [...graph.applications.values()][0]!;
    const again = await ensureEntraApp({ ...request, spaRedirectUris: [] }, { token: TOKEN, graphUrl });
    expect(again.appId).toBe(first.appId);
    expect(graph.applications.size).toBe(1);
    expect(graph.servicePrincipals.size).toBe(1);
    expect(graph.requests.map(({ method }) => method)).toEqual(['PATCH', 'GET', 'GET']);
    // The scope and role keep their ids, so Graph never sees them removed.
    type WithScopes = { api: { oauth2PermissionScopes: { id: string }[] } };
    const scopeId = (app: unknown) => (app as WithScopes).api.oauth2PermissionScopes[0]!.id;
    expect(scopeId(graph.requests[0]!.body)).toBe(scopeId(first));
  });

  it("stops with Graph's error code when the signed-in user may not register applications", async () => {
    await expect(ensureEntraApp(request, { token: 'not-the-token', graphUrl })).rejects.toThrow(
      /401 InvalidAuthenticationToken/,
    );
  });
});

describe('the preprovision hook', () => {
  it('stores what the service and clients need, and leaves values the user set alone', async () => {
    const set = new Map<string, string>();
    const deps = {
      graphToken: async () => TOKEN,
      setEnv: async (name: string, value: string) => void set.set(name, value),
      graph: { graphUrl },
    };
    await registerEntraApp({ AZURE_ENV_NAME: 'first', AUTH_ADMIN_ROLE: 'Ops.Admin' }, deps);
    const appId = set.get('ENTRA_API_CLIENT_ID')!;
    expect(Object.fromEntries(set)).toEqual({
      ENTRA_APP_UNIQUE_NAME: expect.stringMatching(/^acs-token-service-first-[0-9a-f]{8}$/),
      ENTRA_API_CLIENT_ID: appId,
      ENTRA_API_SCOPE: `api://${appId}/${API_SCOPE}`,
      ENTRA_TENANT_ID: TENANT,
      AUTH_ISSUER: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      AUTH_AUDIENCE: appId,
      AUTH_REQUIRED_SCOPE: API_SCOPE,
    });

    // The next `azd provision` sees those values in its environment: same application, nothing to set.
    const env = { AZURE_ENV_NAME: 'first', AUTH_ADMIN_ROLE: 'Ops.Admin', ...Object.fromEntries(set) };
    set.clear();
    const appsBefore = graph.applications.size;
    await registerEntraApp(env, deps);
    expect(set.size).toBe(0);
    expect(graph.applications.size).toBe(appsBefore);
  });

  it('registers nothing for another identity provider or when turned off', () => {
    expect(registersEntraApp({})).toBe(true);
    expect(registersEntraApp({ AUTH_AUDIENCE: 'api://mine' })).toBe(false);
    expect(registersEntraApp({ AUTH_AUDIENCE: 'x', ENTRA_API_CLIENT_ID: 'x' })).toBe(true);
    expect(registersEntraApp({ ENTRA_APP_REGISTRATION: 'false' })).toBe(false);
    expect(registersEntraApp({ AUTH_ISSUERS: '[{"issuer":"https://a.example/","audience":"x"}]' })).toBe(false);
  });

  it('refuses platform CORS origins the host would never match (trailing slash, path, wildcard, plain http)', async () => {
    const variables = await mappedVariables();
    expect(variables).toContain('CORS_ALLOWED_ORIGINS');
    expect(
      deploymentProblems(
        { CORS_ALLOWED_ORIGINS: 'https://app.contoso.com, http://localhost:5173' },
        variables,
      ),
    ).toEqual([]);
    for (const bad of [
      'https://app.contoso.com/',
      'https://app.contoso.com/page',
      '*',
      'http://app.contoso.com',
    ]) {
      const problems = deploymentProblems({ CORS_ALLOWED_ORIGINS: bad }, variables);
      expect(problems, bad).toHaveLength(1);
      expect(problems[0]).toMatch(/^CORS_ALLOWED_ORIGINS /);
    }
  });

  it("checks every mapped service setting with the service's own schema, naming it but never its value", async () => {
    const variables = await mappedVariables();
    const problems = deploymentProblems(
      {
        TOKEN_SCOPES_BY_ROLE: '{"guest":["secret-scope-value"]}',
        AUTH_ISSUER: 'http://issuer.example',
        TOKEN_REUSE: 'maybe',
        INSTANCE_MEMORY_MB: '1024',
        MAXIMUM_INSTANCE_COUNT: '5000',
        ENABLE_SOURCE_MAPS: 'yes',
        RATE_LIMIT_PER_MINUTE: '60',
      },
      variables,
    );
    expect(problems.map((problem) => problem.split(' ')[0])).toEqual([
      'AUTH_ISSUER',
      'TOKEN_SCOPES_BY_ROLE',
      'TOKEN_REUSE',
      'MAXIMUM_INSTANCE_COUNT',
      'INSTANCE_MEMORY_MB',
      'ENABLE_SOURCE_MAPS',
    ]);
    expect(problems.join('\n')).not.toMatch(/secret-scope-value|issuer\.example|maybe/);
  });

  it('runs as azd runs it: a bad value stops the hook with a non-zero exit, naming the variable only', () => {
    const hook = (env: Record<string, string>) =>
      spawnSync('npx', ['tsx', 'scripts/azd/preprovision.ts'], {
        env: { ...process.env, ENTRA_APP_REGISTRATION: 'false', ...env },
        encoding: 'utf8',
      });
    const refused = hook({ CORS_ALLOWED_ORIGINS: 'https://app.contoso.com/' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/CORS_ALLOWED_ORIGINS must list origins/);
    expect(refused.stderr).not.toContain('app.contoso.com');
    expect(hook({ CORS_ALLOWED_ORIGINS: 'https://app.contoso.com' }).status).toBe(0);
  });
});
