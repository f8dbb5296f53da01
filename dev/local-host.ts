import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { format } from 'node:util';
import functions, { type HttpResponseInit } from '@azure/functions';
import type { JwtValidatorOptions } from '../src/caller/jwt.js';
import { problem } from '../src/http/problem.js';
import { allowedMethods, routeFor } from '../src/http/route-table.js';
import type { LogLevel } from '../src/log.js';
import { routes } from '../src/routes.js';
import { type ServicesState, servicesFromEnvironment } from '../src/services.js';
import { createFlexFront, type FlexFront, type FlexFrontOptions } from './flex-front.js';
import { isLoopbackHost, LOOPBACK_HOST_REQUIRED } from './loopback-host.js';

/** Like the Functions host's own request size limit (100 MB there): beyond it the host answers, not the app. */
const HOST_MAX_BODY_BYTES = 1024 * 1024;
/** How much of an over-limit body the host reads and discards so that its 413 is read before the close. */
const HOST_DRAIN_MAX_BYTES = 16 * 1024 * 1024;
/**
 * How long an over-limit body may pause before the host stops reading it and answers: long enough that a client
 * still sending on a busy machine is not cut off (1 s reset 5 of 100 paced uploads at a load average of 13), short
 * enough that a client waiting for the answer before it sends gets it.
 */
const HOST_DRAIN_IDLE_MS = 5_000;
const ROUTE_PREFIX = '/api';
/** Methods the fetch-style HttpRequest cannot represent (it throws); the host answers them without a handler. */
const UNREPRESENTABLE_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

export interface LocalHostOptions {
  /** Default 0: a free port. */
  port?: number;
  host?: string;
  /** The app settings this host's services read; default process.env. */
  env?: Record<string, string | undefined>;
  /** Every log line (service and per-request); default the console. */
  log?: (level: LogLevel, line: string) => void;
  /** Key-set cache tuning, for tests. */
  jwt?: JwtValidatorOptions;
  /** False keeps reusable tokens per instance (the benchmark's comparison); default true. */
  shareReusableTokens?: boolean;
  /**
   * Put what the Flex Consumption host runs in front of the app here too (dev/flex-front.ts): its CORS from
   * CORS_ALLOWED_ORIGINS in `env`, and App Service Authentication when `easyAuth` is given. Absent: the app alone.
   */
  flexFront?: Omit<FlexFrontOptions, 'env'>;
  /** Host names this host answers besides loopback ones (localhost, 127.0.0.0/8, [::1]); default none. */
  hostNames?: readonly string[];
}

export interface LocalHost {
  /** `http://127.0.0.1:PORT`; the API is under `/api/`. */
  url: string;
  port: number;
  /** This host's services, e.g. for a test to list the identity store's mappings. */
  services: ServicesState;
  /**
   * Stops the host. With `graceMs`, as the Functions host does on SIGTERM: no new connections, requests in flight
   * finish (up to `graceMs`), then the rest is cut; without, everything is cut at once (tests).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

const consoleLog = (level: LogLevel, line: string) => {
  if (level === 'error') console.error(line);
  else if (level === 'warning') console.warn(line);
  else console.info(line);
};

function toLogLevel(level: string): LogLevel {
  return level === 'error' || level === 'critical'
    ? 'error'
    : level === 'warning'
      ? 'warning'
      : 'information';
}

/**
 * Node keeps only the first of some repeated headers (Authorization among them); the Functions host joins them.
 * Like Azure's front end, the client's address is appended to X-Forwarded-For, so its last entry can be trusted.
 */
function joinedHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    const name = request.rawHeaders[index]!.toLowerCase();
    const value = request.rawHeaders[index + 1]!;
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const client = request.socket.remoteAddress ?? 'unknown';
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${client}`
    : client;
  return headers;
}

/**
 * Why the request is refused before any route is matched, or undefined: its Host must name this machine (see
 * isLoopbackHost), and its target must be a path. The URL is then built from the checked Host and the path alone,
 * so nothing in the request (a Host carrying a path or userinfo, a target like `//x/api/...`) can change the route.
 */
function checkedUrl(
  request: IncomingMessage,
  hostNames: readonly string[],
): { refusal: string; field: string } | { url: URL } {
  const host = request.headers.host;
  if (!isLoopbackHost(host, hostNames)) return { refusal: LOOPBACK_HOST_REQUIRED, field: 'Host' };
  const target = request.url ?? '/';
  const href = `http://${host}${target}`;
  if (!target.startsWith('/') || !URL.canParse(href)) {
    return { refusal: 'The request target is not a valid path.', field: 'target' };
  }
  return { url: new URL(href) };
}

/**
 * The request body, or what happened to an over-limit one. An over-limit body is still read to its end and thrown
 * away, up to HOST_DRAIN_MAX_BYTES (`drained`): a connection closed on unread bytes makes the kernel send a reset,
 * which can reach a client still sending before it reads the 413. A client that stops sending an over-limit body for
 * HOST_DRAIN_IDLE_MS is waiting for the answer, so it gets it then.
 */
function readBody(request: IncomingMessage): Promise<Buffer | { tooLarge: { drained: boolean } }> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > HOST_DRAIN_MAX_BYTES) {
      resolve({ tooLarge: { drained: false } });
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let idle: NodeJS.Timeout | undefined;
    const stopReading = () => {
      clearTimeout(idle);
      request.off('data', onData);
      request.pause();
      resolve({ tooLarge: { drained: false } });
    };
    const watchIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(stopReading, HOST_DRAIN_IDLE_MS);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total <= HOST_MAX_BODY_BYTES) chunks.push(chunk);
      else if (total > HOST_DRAIN_MAX_BYTES) stopReading();
      else watchIdle();
    };
    if (declared > HOST_MAX_BODY_BYTES) watchIdle();
    request.on('data', onData);
    request.once('end', () => {
      clearTimeout(idle);
      resolve(total > HOST_MAX_BODY_BYTES ? { tooLarge: { drained: true } } : Buffer.concat(chunks));
    });
    request.once('error', (error) => {
      clearTimeout(idle);
      reject(error);
    });
  });
}

/**
 * 413, then the connection closes. When the body was drained (or never sent: refused before `100 Continue`) nothing
 * is left unread, so the close is a clean FIN after the answer; otherwise the socket is destroyed once the answer is
 * out, which bounds what a client can make the host read.
 */
async function sendTooLarge(
  request: IncomingMessage,
  response: ServerResponse,
  invocationId: string,
  nothingUnread: boolean,
): Promise<void> {
  const tooLarge = problem({
    type: 'payload-too-large',
    detail: 'The request body is too large.',
    invocationId,
  });
  if (!nothingUnread) response.once('finish', () => request.destroy());
  await send(
    response,
    { ...tooLarge, headers: { ...tooLarge.headers, Connection: 'close' } },
    (request.method ?? 'GET').toUpperCase(),
  );
}

/**
 * The Flex front's part of a request: it ends a CORS preflight itself (true), or sets its CORS headers on the
 * response to come and lets the request through (false).
 */
function frontAnswers(front: FlexFront, request: IncomingMessage, response: ServerResponse): boolean {
  const headers = joinedHeaders(request);
  const preflight = front.preflight((request.method ?? 'GET').toUpperCase(), headers);
  if (preflight) {
    response.writeHead(preflight.status, { ...preflight.headers, 'content-length': '0' });
    response.end();
    return true;
  }
  for (const [name, value] of Object.entries(front.responseHeaders(headers))) response.setHeader(name, value);
  return false;
}

async function send(response: ServerResponse, init: HttpResponseInit, method: string): Promise<void> {
  const serialised = new functions.HttpResponse(init);
  const headers: Record<string, string> = {};
  serialised.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body =
    method === 'HEAD' || serialised.body === null ? undefined : Buffer.from(await serialised.arrayBuffer());
  response.writeHead(serialised.status, {
    ...headers,
    ...(body ? { 'content-length': String(body.length) } : {}),
  });
  response.end(body);
}

/** A request as the Functions host hands it on once it has read it: the body whole, headers joined. */
export interface RouteCall {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Uint8Array;
  invocationId?: string;
}

/**
 * What the Functions host does with a request it has read: pick the route (`/api/<route>`, the catch-all for any
 * other method), build the HttpRequest and InvocationContext, and run the handler with the services. The local host
 * calls it for every request it serves; tests call it in-process, with no socket (test/support/service.ts `call`).
 */
export async function invokeRoute(
  services: ServicesState,
  { method, url, headers, body, invocationId = randomUUID() }: RouteCall,
  log: (level: LogLevel, line: string) => void = consoleLog,
): Promise<HttpResponseInit> {
  const path = url.pathname;
  const lowered = path.toLowerCase();
  const underPrefix = lowered === ROUTE_PREFIX || lowered.startsWith(`${ROUTE_PREFIX}/`);
  const apiPath = path.slice(ROUTE_PREFIX.length);
  // Any method the table does not list still reaches the catch-all, which answers 404 or 405 as a problem.
  const match = underPrefix ? routeFor(routes, method, apiPath) : undefined;
  if (!match) return problem({ type: 'not-found', detail: 'No such route.', invocationId });
  if (UNREPRESENTABLE_METHODS.has(method)) {
    const allowed = allowedMethods(routes, apiPath);
    return allowed.length === 0
      ? problem({ type: 'not-found', detail: 'No such route.', invocationId })
      : problem({
          type: 'method-not-allowed',
          detail: `This route answers ${allowed.join(', ')}.`,
          invocationId,
          headers: { Allow: allowed.join(', ') },
        });
  }
  const httpRequest = new functions.HttpRequest({
    method,
    url: url.href,
    headers,
    params: match.params,
    body: { bytes: body },
  });
  const context = new functions.InvocationContext({
    invocationId,
    functionName: match.route.name,
    logHandler: (level, ...args) => log(toLogLevel(level), format(...args)),
  });
  return match.route.handler(httpRequest, context, services);
}

/**
 * Serves the route table over node:http the way the Functions host does: `/api/<route>`, the same handlers, an
 * HttpRequest and InvocationContext per request. Several hosts with different settings can run in one process.
 */
export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  const log = options.log ?? consoleLog;
  const services = servicesFromEnvironment(options.env ?? process.env, {
    log: (level, event) => log(level, JSON.stringify(event)),
    ...(options.jwt ? { jwt: options.jwt } : {}),
    ...(options.shareReusableTokens === false ? { shareReusableTokens: false } : {}),
  });

  const front = options.flexFront
    ? createFlexFront({ env: options.env ?? process.env, ...options.flexFront })
    : undefined;

  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = createServer(async (request, response) => {
    inFlight++;
    response.once('close', () => {
      inFlight--;
      if (inFlight === 0) drained?.();
    });
    const invocationId = randomUUID();
    const method = (request.method ?? 'GET').toUpperCase();
    try {
      const checked = checkedUrl(request, options.hostNames ?? []);
      if (!('url' in checked)) {
        const invalid = problem({
          type: 'invalid-request',
          detail: checked.refusal,
          invocationId,
          errors: [{ name: checked.field, reason: 'is not accepted here' }],
        });
        await send(response, invalid, method);
        return;
      }
      if (front && frontAnswers(front, request, response)) return;
      const body = await readBody(request);
      if (!Buffer.isBuffer(body)) {
        await sendTooLarge(request, response, invocationId, body.tooLarge.drained);
        return;
      }
      const headers = front ? await front.requestHeaders(joinedHeaders(request)) : joinedHeaders(request);
      const answer = await invokeRoute(
        services,
        { method, url: checked.url, headers, body, invocationId },
        log,
      );
      await send(response, answer, method);
    } catch {
      // Handlers turn their own failures into problems; reaching this means the host itself failed.
      if (!response.headersSent) {
        await send(
          response,
          problem({ type: 'internal', detail: 'The local host failed.', invocationId }),
          method,
        );
      } else {
        response.destroy();
      }
    }
  });

  // Expect: 100-continue. A declared body over the limit is refused before the client sends it (RFC 9110, 10.1.1:
  // a final status instead of 100), so nothing is left unread; any other request is told to continue.
  server.on('checkContinue', (request, response) => {
    if (Number(request.headers['content-length'] ?? 0) > HOST_MAX_BODY_BYTES) {
      void sendTooLarge(request, response, randomUUID(), true);
      return;
    }
    response.writeContinue();
    server.emit('request', request, response);
  });

  // Requests Node's parser refuses (oversized headers, malformed HTTP) still get a problem document.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const init = problem({
      type: tooLarge ? 'header-too-large' : 'invalid-request',
      detail: tooLarge ? 'The request headers are too large.' : 'The request is not valid HTTP.',
      invocationId: randomUUID(),
    });
    const body = JSON.stringify(init.jsonBody);
    socket.end(
      `HTTP/1.1 ${init.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/problem+json\r\nCache-Control: no-store\r\nConnection: close\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });

  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    port,
    services,
    async close({ graceMs = 0 } = {}) {
      const closed = new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      });
      if (graceMs > 0 && inFlight > 0) {
        const allAnswered = new Promise<void>((resolve) => {
          drained = resolve;
        });
        await Promise.race([allAnswered, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
