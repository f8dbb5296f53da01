import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import { CONFIG_PATH, DEV_TOKEN_PATH, type DemoConfig } from '../demo/config.js';
import { acsScopeSchema } from '../src/acs/scopes.js';
import { isLoopbackHost, LOOPBACK_HOST_REQUIRED } from './loopback-host.js';

/**
 * Serves the browser demo (demo/) on its own origin, so the page's calls to the token service are cross-origin and
 * CORS is exercised for real. Development only: never deployed, and nothing in src/ imports it.
 */

export interface DemoServerOptions {
  /** Default 0: a free port. */
  port?: number;
  host?: string;
  /**
   * The token service's base URL (`http://localhost:7071`, the API under `/api`). A function when the service starts
   * after the demo server, because the service's APP_CORS_ALLOWED_ORIGINS must name the demo's origin first.
   */
  serviceUrl: string | (() => string);
  /** The development identity provider whose `POST /token` the page reaches through this server. */
  issuerUrl: string;
}

export interface DemoServer {
  /** `http://127.0.0.1:PORT/`: the page. */
  url: string;
  port: number;
  /** The origins the page has when opened through this server: what the service's APP_CORS_ALLOWED_ORIGINS must list. */
  origins: string[];
  close(): Promise<void>;
}

const DEMO_DIR = path.resolve(import.meta.dirname, '../demo');
const MAX_SIGN_IN_BODY_BYTES = 16 * 1024;
const DEFAULT_SCOPES = ['chat', 'voip'];

interface Asset {
  contentType: string;
  body: string;
}

/** The page's script: demo/app.ts and its packages (the ACS credential among them) bundled for browsers. */
async function bundleApp(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(DEMO_DIR, 'app.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

async function loadAssets(): Promise<Map<string, Asset>> {
  const [html, css, script] = await Promise.all([
    readFile(path.join(DEMO_DIR, 'index.html'), 'utf8'),
    readFile(path.join(DEMO_DIR, 'style.css'), 'utf8'),
    bundleApp(),
  ]);
  return new Map([
    ['/', { contentType: 'text/html; charset=utf-8', body: html }],
    ['/index.html', { contentType: 'text/html; charset=utf-8', body: html }],
    ['/style.css', { contentType: 'text/css; charset=utf-8', body: css }],
    ['/app.js', { contentType: 'text/javascript; charset=utf-8', body: script }],
  ]);
}

function send(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers = {},
): void {
  response
    .writeHead(status, {
      'Content-Type': contentType,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    })
    .end(body);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

async function readLimited(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit, so the 413 reaches the client before the socket closes.
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_SIGN_IN_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_SIGN_IN_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

/** The dev issuer answers without CORS headers, so the page signs in through its own origin. */
async function proxySignIn(
  request: IncomingMessage,
  response: ServerResponse,
  issuerUrl: string,
): Promise<void> {
  const body = await readLimited(request);
  if (body === undefined) {
    return sendJson(response, 413, {
      error: 'payload_too_large',
      error_description: 'The body is too large',
    });
  }
  let answer: Response;
  try {
    answer = await fetch(new URL('/token', issuerUrl), {
      method: 'POST',
      headers: { 'Content-Type': request.headers['content-type'] ?? 'application/json' },
      body,
    });
  } catch {
    return sendJson(response, 502, {
      error: 'issuer_unreachable',
      error_description: 'The development identity provider did not answer',
    });
  }
  send(
    response,
    answer.status,
    answer.headers.get('content-type') ?? 'application/json',
    await answer.text(),
  );
}

export async function startDemoServer(options: DemoServerOptions): Promise<DemoServer> {
  const assets = await loadAssets();
  const serviceUrl = () =>
    typeof options.serviceUrl === 'function' ? options.serviceUrl() : options.serviceUrl;

  const server = createServer(async (request, response) => {
    try {
      // POST /dev-token mints tokens with any roles (a form post needs no preflight): no DNS rebinding either.
      if (!isLoopbackHost(request.headers.host)) {
        return sendJson(response, 400, { error: 'invalid_host', error_description: LOOPBACK_HOST_REQUIRED });
      }
      const { pathname } = new URL(request.url ?? '/', 'http://demo.invalid');
      const method = request.method ?? 'GET';
      if (pathname === DEV_TOKEN_PATH) {
        if (method !== 'POST') return send(response, 405, 'text/plain', 'Use POST', { Allow: 'POST' });
        return await proxySignIn(request, response, options.issuerUrl);
      }
      if (method !== 'GET' && method !== 'HEAD')
        return send(response, 405, 'text/plain', 'Use GET', { Allow: 'GET' });
      if (pathname === CONFIG_PATH) {
        const config: DemoConfig = {
          serviceUrl: serviceUrl(),
          scopes: acsScopeSchema.options,
          defaultScopes: DEFAULT_SCOPES,
        };
        return sendJson(response, 200, config);
      }
      const asset = assets.get(pathname);
      if (!asset) return send(response, 404, 'text/plain', 'Not found');
      // The page may talk to itself and to the token service, nothing else.
      const csp = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        `connect-src 'self' ${new URL(serviceUrl()).origin}`,
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
      ].join('; ');
      send(response, 200, asset.contentType, asset.body, { 'Content-Security-Policy': csp });
    } catch {
      if (!response.headersSent) send(response, 500, 'text/plain', 'The demo server failed');
      else response.destroy();
    }
  });

  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const loopbackNames = ['127.0.0.1', '::1', 'localhost'].includes(address) ? ['localhost', host] : [host];

  return {
    url: `http://${host}:${port}/`,
    port,
    origins: [...new Set(loopbackNames)].map((name) => `http://${name}:${port}`),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The start-up banner's line for the demo; it warns when the service's CORS settings will refuse the page. */
export function demoBannerLine(demo: DemoServer, corsAllowedOrigins: string | undefined): string {
  const allowed = (corsAllowedOrigins ?? '').split(',').map((origin) => origin.trim());
  const refused = !demo.origins.some((origin) => allowed.includes(origin));
  return `  Browser demo: http://localhost:${demo.port}/${
    refused ? `  (refused by the service: add ${demo.origins[0]} to APP_CORS_ALLOWED_ORIGINS)` : ''
  }`;
}
