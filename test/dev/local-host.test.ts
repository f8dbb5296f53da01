import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHost } from '../../dev/local-host.js';
import { type RunningService, startService } from '../support/service.js';

/** Sends raw HTTP, for what fetch will not send (repeated headers); returns the status line and body. */
async function rawRequest(port: number, request: string): Promise<{ status: number; text: string }> {
  const socket = connect(port, '127.0.0.1');
  socket.write(request);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: Number(text.split(' ')[1]), text };
}

let service: RunningService;
beforeAll(async () => {
  service = await startService({ env: { TOKEN_ALLOWED_SCOPES: 'chat', TOKEN_DEFAULT_SCOPES: 'chat' } });
});
afterAll(() => service.close());

describe('startLocalHost', () => {
  it('serves the route table under /api and answers a 404 problem elsewhere', async () => {
    expect((await fetch(service.api('health'))).status).toBe(200);
    for (const path of ['/', '/health', '/apix/health', '/api/health/extra', '/api/%E0%A4%A']) {
      const response = await fetch(`${service.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('answers 405 with Allow for a known route under another method, HEAD included', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'HEAD', 'PROPFIND']) {
      const response = await fetch(service.api('token'), { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST, OPTIONS'); // OPTIONS: the CORS preflight
    }
    expect((await fetch(service.api('health'), { method: 'POST' })).headers.get('allow')).toBe(
      'GET, OPTIONS',
    );
  });

  it('matches literal routes case-insensitively, like the Functions host', async () => {
    expect((await fetch(`${service.url}/API/Health`)).status).toBe(200);
  });

  it('joins repeated Authorization headers as the Functions host does, so two tokens are refused', async () => {
    const token = await service.tokenFor('twice');
    const { status, text } = await rawRequest(
      service.host.port,
      `POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(status).toBe(401);
    expect(text.toLowerCase()).toContain('www-authenticate: bearer error="invalid_token"');
  });

  it('refuses bodies over its own limit before the handler runs, and oversized headers', async () => {
    const declared = await rawRequest(
      service.host.port,
      'POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n',
    );
    expect(declared.status).toBe(413);
    expect(declared.text).toContain('urn:acs-token-service:problem:payload-too-large');
    const bigHeader = await fetch(service.api('health'), { headers: { 'X-Big': 'x'.repeat(32 * 1024) } });
    expect(bigHeader.status).toBe(431);
    expect(await bigHeader.json()).toMatchObject({ type: 'urn:acs-token-service:problem:header-too-large' });
    const garbage = await rawRequest(service.host.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(garbage.text).toContain('application/problem+json');
  });

  it('puts the invocation id of the problem in the request log line', async () => {
    const response = await fetch(service.api('token'), { method: 'POST' });
    const { invocationId } = (await response.json()) as { invocationId: string };
    const line = service.logs.map((record) => record.line).find((text) => text.includes(invocationId));
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      event: 'request',
      status: 401,
      route: 'issueToken',
      acsCalls: 0,
    });
  });

  it('runs several differently configured hosts in one process', async () => {
    const other = await startService({ emulator: service.emulator, issuer: service.issuer });
    try {
      const body = { scopes: ['voip'] };
      expect((await service.requestToken('two-hosts', body)).status).toBe(403);
      expect((await other.requestToken('two-hosts', body)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

/**
 * The local copy of what the Flex Consumption host puts in front of the app (dev/flex-front.ts), started with the
 * settings `azd up` gives the app: the origins in the platform's CORS_ALLOWED_ORIGINS (a JSON array, as the platform
 * writes it), no APP_CORS_ALLOWED_ORIGINS.
 */
describe('startLocalHost behind the Flex Consumption front', () => {
  const PAGE = 'https://app.example.com';
  let flex: RunningService;

  beforeAll(async () => {
    flex = await startService({
      emulator: service.emulator,
      issuer: service.issuer,
      env: { CORS_ALLOWED_ORIGINS: JSON.stringify([PAGE, 'https://other.example.com']) },
      flexFront: {},
    });
  });
  afterAll(() => flex.close());

  const preflight = (origin: string) =>
    fetch(flex.api('token'), {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });

  it('answers preflights itself, as ASP.NET Core does: allow headers for a listed origin only, and the app never sees them', async () => {
    const allowed = await preflight(PAGE);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(allowed.headers.get('access-control-allow-methods')).toBe('POST');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    expect(allowed.headers.get('allow')).toBeNull(); // the app's own OPTIONS answer would carry Allow

    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(204);
    expect([...refused.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    expect(flex.logs.some((record) => record.line.includes('"method":"OPTIONS"'))).toBe(false);
  });

  it('gives the actual response of a listed origin exactly one Access-Control-Allow-Origin, and the readable headers', async () => {
    const response = await fetch(flex.api('token'), {
      method: 'POST',
      headers: { Origin: PAGE, Authorization: `Bearer ${await flex.tokenFor('flex-alice')}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(response.headers.get('access-control-expose-headers')).toBe('Retry-After, WWW-Authenticate');
    const stranger = await fetch(flex.api('health'), { headers: { Origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('passes plain OPTIONS (no preflight) on to the app, which answers with Allow', async () => {
    const response = await fetch(flex.api('token'), { method: 'OPTIONS' });
    expect(response.status).toBe(204);
    expect(response.headers.get('allow')).toBe('GET, POST, OPTIONS');
  });

  it('refuses to start on a CORS_ALLOWED_ORIGINS the host could not parse, as the host does', async () => {
    await expect(
      startService({
        emulator: service.emulator,
        issuer: service.issuer,
        env: { CORS_ALLOWED_ORIGINS: 'https://app.example.com' },
        flexFront: {},
      }),
    ).rejects.toThrow();
  });
});

describe('startLocalHost behind the Flex Consumption front with App Service Authentication', () => {
  let flex: RunningService;

  beforeAll(async () => {
    flex = await startService({
      emulator: service.emulator,
      issuer: service.issuer,
      env: { AUTH_MODE: 'easyauth', WEBSITE_AUTH_ENABLED: 'true' },
      flexFront: {
        easyAuth: {
          issuer: service.issuer.issuer,
          audience: service.issuer.audience,
          jwksUri: service.issuer.jwksUri,
        },
      },
    });
  });
  afterAll(() => flex.close());

  const forged = Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      claims: [{ typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'victim' }],
    }),
  ).toString('base64');

  it('signs the caller in from its bearer token and hands the app the principal headers', async () => {
    const token = await flex.tokenFor('easy-bob');
    const response = await fetch(flex.api('token'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    const mappings = await flex.mappings();
    expect(mappings.map((mapping) => mapping.userId)).toContain(
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).oid,
    );
  });

  it("never lets a caller's own x-ms-client-principal through", async () => {
    const anonymous = await fetch(flex.api('token'), {
      method: 'POST',
      headers: { 'x-ms-client-principal': forged, 'x-ms-client-principal-id': 'victim' },
    });
    expect(anonymous.status).toBe(401);
    const signedIn = await fetch(flex.api('token'), {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${await flex.tokenFor('easy-carol')}`,
        'x-ms-client-principal': forged,
      },
    });
    expect(signedIn.status).toBe(200);
    expect((await flex.mappings()).map((mapping) => mapping.userId)).not.toContain('victim');
  });
});

describe('the Host header of the local host', () => {
  const get = (host: string, path = '/api/health') =>
    rawRequest(service.host.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  it('accepts loopback names with any port: localhost, 127.0.0.0/8 and [::1]', async () => {
    for (const host of [
      'localhost',
      'LOCALHOST:7071',
      '127.0.0.1',
      `127.0.0.1:${service.host.port}`,
      '127.8.9.10:1',
      '[::1]:80',
    ]) {
      expect((await get(host)).status, host).toBe(200);
    }
  });

  it('refuses any other Host with a 400 problem naming the Host, before any route runs', async () => {
    for (const host of [
      'rebind.attacker.example',
      'rebind.attacker.example:7071',
      'localhost.attacker.example',
      '127.0.0.1.nip.io',
      '128.0.0.1',
      '[::2]',
      'user@127.0.0.1',
      `127.0.0.1:${service.host.port}/api/identity`,
      '127.0.0.1:99999',
      '',
    ]) {
      const { status, text } = await get(host);
      expect(status, host).toBe(400);
      expect(text, host).toContain('application/problem+json');
      expect(text, host).toContain('"name":"Host"');
    }
  });

  it('answers a configured own host name as well', async () => {
    const named = await startLocalHost({
      env: service.env,
      hostNames: ['tokens.contoso.test'],
      log: () => undefined,
    });
    try {
      const answer = (host: string) =>
        rawRequest(named.port, `GET /api/health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect((await answer('tokens.contoso.test')).status).toBe(200);
      expect((await answer('TOKENS.contoso.test:443')).status).toBe(200);
      expect((await answer('other.contoso.test')).status).toBe(400);
    } finally {
      await named.close();
    }
  });
});
