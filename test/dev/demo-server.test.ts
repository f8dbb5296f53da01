import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, demoBannerLine, startDemoServer } from '../../dev/demo-server.js';
import { type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import { startDevelopment } from '../../dev/start.js';
import { requestWithHost } from './host-request.js';

const SERVICE_URL = 'http://127.0.0.1:7999';

/** No local.settings.json, so the developer's own file cannot change what npm start does here. */
const emptyDir = mkdtempSync(path.join(tmpdir(), 'demo-start-'));
afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));

describe('demo server', () => {
  let issuer: DevIssuer;
  let demo: DemoServer;
  const at = (path: string) => new URL(path, demo.url).href;

  beforeAll(async () => {
    issuer = await startDevIssuer();
    demo = await startDemoServer({ serviceUrl: SERVICE_URL, issuerUrl: issuer.issuer });
  });
  afterAll(async () => {
    await demo?.close();
    await issuer?.close();
  });

  it('serves the page on its own loopback origin, allowed to reach only itself and the service', async () => {
    const port = new URL(demo.url).port;
    expect(demo.origins).toEqual([`http://localhost:${port}`, `http://127.0.0.1:${port}`]);
    const response = await fetch(demo.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain(`connect-src 'self' ${SERVICE_URL}`);
    expect(await response.text()).toContain('<script type="module" src="/app.js">');
  });

  it('serves the page script bundled for browsers, the ACS credential included', async () => {
    const response = await fetch(at('/app.js'));
    expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
    const script = await response.text();
    expect(script).toContain('AzureCommunicationTokenCredential');
    expect(script).not.toMatch(/\brequire\(["']node:/);
  });

  it('tells the page where the service is and which scopes exist', async () => {
    const config = await (await fetch(at('/config.json'))).json();
    expect(config).toEqual({
      serviceUrl: SERVICE_URL,
      scopes: ['chat', 'voip', 'chat.join', 'chat.join.limited', 'voip.join'],
      defaultScopes: ['chat', 'voip'],
    });
  });

  it("signs a development user in through the issuer's POST /token", async () => {
    const response = await fetch(at('/dev-token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { access_token: token } = (await response.json()) as { access_token: string };
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(issuer.jwksUri)), {
      issuer: issuer.issuer,
      audience: issuer.audience,
    });
    expect(payload.oid).toBe(devUserIds('alice').oid);
  });

  it('refuses a Host that is not loopback (DNS rebinding): no admin token for rebind.attacker.example', async () => {
    const form = (host: string) =>
      requestWithHost(at('/dev-token'), host, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'user=mallory&roles=TokenAdmin',
      });
    expect((await form(`localhost:${new URL(demo.url).port}`)).status).toBe(200);
    const refused = await form('rebind.attacker.example');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toMatchObject({ error: 'invalid_host' });
    expect(refused.text).not.toContain('access_token');
    expect((await requestWithHost(at('/config.json'), 'rebind.attacker.example')).status).toBe(400);
    expect((await requestWithHost(at('/'), '[::1]:8080')).status).toBe(200);
  });

  it("passes the issuer's refusals through, and refuses oversized bodies itself", async () => {
    const invalid = await fetch(at('/dev-token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: '' }),
    });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: 'invalid_request' });

    const huge = await fetch(at('/dev-token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'x'.repeat(32 * 1024) }),
    });
    expect(huge.status).toBe(413);
  });

  it('answers unknown paths with 404 and wrong methods with 405', async () => {
    expect((await fetch(at('/../package.json'))).status).toBe(404);
    expect((await fetch(at('/demo/app.ts'))).status).toBe(404);
    const wrongMethod = await fetch(at('/dev-token'));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await fetch(demo.url, { method: 'DELETE' })).status).toBe(405);
  });

  it('answers 502 when the issuer is gone', async () => {
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const { port } = unused.address() as AddressInfo;
    await new Promise<void>((resolve) => unused.close(() => resolve()));

    const orphan = await startDemoServer({ serviceUrl: SERVICE_URL, issuerUrl: `http://127.0.0.1:${port}` });
    try {
      const response = await fetch(new URL('/dev-token', orphan.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: 'alice' }),
      });
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({ error: 'issuer_unreachable' });
    } finally {
      await orphan.close();
    }
  });

  it('reads a late service URL at request time', async () => {
    let serviceUrl = 'http://127.0.0.1:1111';
    const late = await startDemoServer({ serviceUrl: () => serviceUrl, issuerUrl: issuer.issuer });
    try {
      serviceUrl = 'http://127.0.0.1:2222';
      expect(await (await fetch(new URL('/config.json', late.url))).json()).toMatchObject({ serviceUrl });
    } finally {
      await late.close();
    }
  });
});

describe('demoBannerLine', () => {
  const demo = {
    url: 'http://127.0.0.1:7072/',
    port: 7072,
    origins: ['http://localhost:7072', 'http://127.0.0.1:7072'],
  };
  const close = async () => {};

  it('prints where to open the demo, and warns when APP_CORS_ALLOWED_ORIGINS leaves it out', () => {
    expect(demoBannerLine({ ...demo, close }, 'http://127.0.0.1:7072')).toBe(
      '  Browser demo: http://localhost:7072/',
    );
    expect(demoBannerLine({ ...demo, close }, 'https://app.example.com')).toContain(
      'add http://localhost:7072 to APP_CORS_ALLOWED_ORIGINS',
    );
    expect(demoBannerLine({ ...demo, close }, undefined)).toContain('refused by the service');
  });
});

describe('npm start with the demo', () => {
  it('serves the demo on its own origin and allows that origin in the service when APP_CORS_ALLOWED_ORIGINS is unset', async () => {
    const dev = await startDevelopment({ port: 0, env: {}, settingsDir: emptyDir });
    try {
      const demo = dev.demo!;
      expect(dev.banner).toContain(`Browser demo: http://localhost:${demo.port}/`);
      expect(dev.banner).not.toContain('refused by the service');
      const config = (await (await fetch(new URL('/config.json', demo.url))).json()) as {
        serviceUrl: string;
      };
      expect(config.serviceUrl).toBe(`http://localhost:${dev.host.port}`);

      const preflight = await fetch(`${dev.host.url}/api/token`, {
        method: 'OPTIONS',
        headers: { Origin: demo.origins[0]!, 'Access-Control-Request-Method': 'POST' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBe(demo.origins[0]);
    } finally {
      await dev.close();
    }
  });

  it('keeps a APP_CORS_ALLOWED_ORIGINS that is set, and warns when it leaves the demo out', async () => {
    const dev = await startDevelopment({
      port: 0,
      env: { APP_CORS_ALLOWED_ORIGINS: 'https://app.example.com' },
      settingsDir: emptyDir,
    });
    try {
      expect(dev.banner).toContain('refused by the service');
      const settings = dev.host.services.ready ? dev.host.services.services.settings : undefined;
      expect(settings?.cors.allowedOrigins).toEqual(['https://app.example.com']);
    } finally {
      await dev.close();
    }
  });
});
