import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { type DevClaims, type DevIssuer, devUserIds, type MintOptions } from '../../dev/dev-issuer.js';
import type { Route as RouteDefinition } from '../../src/app-services.js';
import { PROBLEM_CONTENT_TYPE } from '../../src/http/problem.js';
import { routes } from '../../src/routes.js';
import { REQUEST_EVENT } from '../../src/telemetry.js';
import { LogCapture } from '../support/log-capture.js';
import { type RunningService, type ServiceOptions, startService } from '../support/service.js';

/** `SECURITY_SUITE=full` (npm run test:security) runs the full sizes; the regular test run a fast slice. */
export const FULL = process.env.SECURITY_SUITE === 'full';

export const sizes = {
  /** fast-check runs per property. */
  propertyRuns: FULL ? 300 : 25,
  /** Users in a concurrency burst, and requests per burst. */
  users: FULL ? 120 : 16,
  requests: FULL ? 600 : 80,
};

/** Where each test file leaves its figures for scripts/security-report.ts. */
export const LEDGER_DIR = path.resolve('.artifacts/security');

/** The admin role and Teams app id every security service runs with, so every route in the table is live. */
export const ADMIN_ROLE = 'TokenAdmin';
export const TEAMS_CLIENT_ID = '4b1a3c2d-9e8f-4a7b-8c6d-5e4f3a2b1c0d';

/**
 * Settings that switch every route on and keep the per-user and per-address rate limits out of the way of a suite
 * that sends thousands of requests from one address (the rate limits have their own tests). Token reuse keeps its
 * production default (on): the suite attacks the service as it is deployed.
 */
export function securityEnv(
  extra: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    TOKEN_REUSE: undefined,
    AUTH_ADMIN_ROLE: ADMIN_ROLE,
    TEAMS_CLIENT_ID,
    RATE_LIMIT_PER_MINUTE: '100000',
    TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join,chat.join.limited',
    TOKEN_DEFAULT_SCOPES: 'chat,voip',
    ...extra,
  };
}

/** Figures one test file contributes to the report. */
export interface LedgerFigures {
  concern: string;
  requests: number;
  /** Requests answered 4xx, and the ACS calls they made (the goal is zero). */
  rejectedRequests: number;
  acsCallsByRejected: number;
  /** 5xx answers where none is acceptable (everything but a 503 with Retry-After under injected faults). */
  unexpected5xx: number;
  /** 503 + Retry-After answers under injected faults (the expected outcome there). */
  faultAnswers503: number;
  duplicates: number;
  orphans: number;
  leaks: number;
  leakKinds: string[];
  secretsTracked: number;
  logLinesScanned: number;
  /** The sizes the file ran with. */
  sizes: typeof sizes;
  /** Longest request under injected ACS hangs, in ms, when measured. */
  slowestFaultedRequestMs?: number;
  /** Named figures a test measured (what it asserts), for the report's list of measurements. */
  measured?: Record<string, number>;
}

interface RequestLogLine {
  event: typeof REQUEST_EVENT;
  invocationId: string;
  status: number;
  acsCalls: number;
  outcome?: string;
}

function requestLines(capture: LogCapture): RequestLogLine[] {
  return capture.allLines().flatMap(({ line }) => {
    const start = line.indexOf('{');
    if (start < 0) return [];
    try {
      const event = JSON.parse(line.slice(start)) as Partial<RequestLogLine>;
      return event.event === REQUEST_EVENT && typeof event.status === 'number'
        ? [event as RequestLogLine]
        : [];
    } catch {
      return [];
    }
  });
}

/**
 * The figures of one test file: what the service logged (every request writes one line with its status and ACS
 * call count), what the tests observed (5xx, duplicates, orphans) and what the log scan found.
 */
export class Ledger {
  readonly capture = new LogCapture();
  private unexpected5xx = 0;
  private faultAnswers503 = 0;
  private duplicates = 0;
  private orphans = 0;
  private slowestFaultedRequestMs: number | undefined;
  private readonly acsVerdicts = new Set<string>();
  private readonly measured: Record<string, number> = {};

  constructor(readonly concern: string) {
    this.capture.captureConsole();
  }

  /** Counts a response: a 5xx is unexpected unless it is a 503 with Retry-After while faults are injected. */
  observe(response: { status: number; headers: IncomingHttpHeaders }, faultsInjected = false): void {
    if (response.status < 500) return;
    if (faultsInjected && response.status === 503 && response.headers['retry-after'] !== undefined) {
      this.faultAnswers503++;
    } else {
      this.unexpected5xx++;
    }
  }

  /**
   * Marks a 4xx that relays ACS's own verdict (a Teams exchange ACS refused): its ACS call is the check itself, so
   * it does not count as an ACS call made by a request the service refused.
   */
  acsVerdict(response: RawResponse): void {
    const invocationId = (response.json() as { invocationId?: unknown } | undefined)?.invocationId;
    if (typeof invocationId === 'string') this.acsVerdicts.add(invocationId);
  }

  consistency(found: { duplicates: number; orphans: number }): void {
    this.duplicates += found.duplicates;
    this.orphans += found.orphans;
  }

  /** Records a figure a test measured, under a name that says what it is, for the report. */
  measure(name: string, value: number): void {
    this.measured[name] = value;
  }

  faultedLatency(ms: number): void {
    this.slowestFaultedRequestMs = Math.max(this.slowestFaultedRequestMs ?? 0, Math.round(ms));
  }

  figures(): LedgerFigures {
    const lines = requestLines(this.capture);
    // A token request an erase overtook (404 erased_meanwhile) was not refused: it was served, and the identity it
    // created meanwhile was deleted again (issue 18: an erase that answered wins), so its ACS calls are not ones a
    // refused request made.
    const rejected = lines.filter(
      (line) =>
        line.status >= 400 &&
        line.status < 500 &&
        line.outcome !== 'erased_meanwhile' &&
        !this.acsVerdicts.has(line.invocationId),
    );
    const leaks = this.capture.scan();
    return {
      concern: this.concern,
      requests: lines.length,
      rejectedRequests: rejected.length,
      acsCallsByRejected: rejected.reduce((sum, line) => sum + (line.acsCalls ?? 0), 0),
      unexpected5xx: this.unexpected5xx,
      faultAnswers503: this.faultAnswers503,
      duplicates: this.duplicates,
      orphans: this.orphans,
      leaks: leaks.length,
      leakKinds: [...new Set(leaks.map((leak) => `${leak.kind} (${leak.source}): ${leak.excerpt}`))].slice(
        0,
        20,
      ),
      secretsTracked: this.capture.secretCount,
      logLinesScanned: this.capture.allLines().length,
      sizes,
      ...(this.slowestFaultedRequestMs !== undefined
        ? { slowestFaultedRequestMs: this.slowestFaultedRequestMs }
        : {}),
      ...(Object.keys(this.measured).length > 0 ? { measured: { ...this.measured } } : {}),
    };
  }

  /** Writes the figures for the report and stops capturing; returns them for the file's own assertions. */
  finish(): LedgerFigures {
    this.capture.release();
    const figures = this.figures();
    mkdirSync(LEDGER_DIR, { recursive: true });
    writeFileSync(
      path.join(LEDGER_DIR, `ledger-${this.concern}.json`),
      `${JSON.stringify(figures, null, 2)}\n`,
    );
    return figures;
  }
}

/** A service under test whose secrets, users and log lines are all tracked by the ledger's capture. */
export interface SecureService extends RunningService {
  /** A caller token for a user name, registered as a secret (the user too). */
  callerToken(user: string, claims?: DevClaims, options?: MintOptions): Promise<string>;
  send(request: RawRequest): Promise<RawResponse>;
  /** Operations and rejections the emulator counted so far (their sum changes with any ACS call). */
  acsActivity(): Promise<number>;
}

/** Makes the issuer register every token it mints, so none can leak unnoticed. */
export function trackIssuer(issuer: DevIssuer, capture: LogCapture): void {
  const mint = issuer.mint.bind(issuer);
  issuer.mint = async (claims, options) => capture.secret('caller JWT', await mint(claims, options));
}

export function trackUser(capture: LogCapture, issuer: string, user: string): void {
  const { oid, sub } = devUserIds(user);
  capture.user({ issuer, userId: oid, aliases: [sub, user] });
}

export async function startSecureService(
  ledger: Ledger,
  options: ServiceOptions & { faultsInjected?: boolean } = {},
): Promise<SecureService> {
  const service = await startService({ ...options, env: securityEnv(options.env) });
  try {
    service.services();
  } catch (error) {
    await service.close();
    throw error;
  }
  const { capture } = ledger;
  capture.adopt(service.logs);
  trackIssuer(service.issuer, capture);
  capture.secret('ACS access key', service.emulator.accessKey);
  capture.secret('ACS connection string', service.emulator.connectionString);
  for (const [name, value] of Object.entries(service.env)) {
    if (/CONNECTION_STRING|AzureWebJobsStorage/i.test(name)) capture.secret(`${name} value`, value);
  }
  const send = async (request: RawRequest) => {
    const response = await rawRequest(service.url, request);
    ledger.observe(response, options.faultsInjected);
    registerResponseSecrets(capture, response);
    return response;
  };
  return Object.assign(service, {
    async callerToken(user: string, claims?: DevClaims, mintOptions?: MintOptions) {
      trackUser(capture, service.issuer.issuer, user);
      return service.tokenFor(user, claims, mintOptions);
    },
    send,
    async acsActivity() {
      const stats = await service.emulatorStats();
      return [...Object.values(stats.operations), ...Object.values(stats.rejected)].reduce(
        (a, b) => a + b,
        0,
      );
    },
  });
}

/** ACS tokens a response hands out are secrets the logs must never show. */
export function registerResponseSecrets(capture: LogCapture, response: RawResponse): void {
  const body = response.json();
  if (body && typeof body === 'object' && typeof (body as { token?: unknown }).token === 'string') {
    capture.secret('ACS token', (body as { token: string }).token);
  }
}

export interface RawRequest {
  method: string;
  /** Sent as is (not normalised): `/api/token`, `/api/../api/token`, `/api/identity%2f..`. */
  path: string;
  /** An array value sends the header once per element. */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Sends the body as chunks with no Content-Length. */
  chunked?: boolean;
  /** A response must start within this long, else the request counts as a hang. Default 15 s. */
  timeoutMs?: number;
  /** Destroys the connection this long after the whole request was handed to the socket. */
  abortAfterSentMs?: number;
  /** The loopback address to connect from (127.0.0.0/8), to act as distinct clients. */
  localAddress?: string;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  elapsedMs: number;
  json(): unknown;
}

export class HangError extends Error {
  override readonly name = 'HangError';
}

export class AbortedByClient extends Error {
  override readonly name = 'AbortedByClient';
}

/**
 * One HTTP/1.1 exchange over its own connection, with any method, an unnormalised path, repeated headers and a
 * hang detector, which `fetch` cannot all do.
 */
export function rawRequest(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const outgoing = http.request({
      host: hostname,
      port,
      method: request.method,
      path: request.path,
      agent: false,
      headers: { Connection: 'close' },
      ...(request.localAddress ? { localAddress: request.localAddress } : {}),
    });
    for (const [name, value] of Object.entries(request.headers ?? {})) outgoing.setHeader(name, value);
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    if (body !== undefined) {
      // GET and DELETE are not chunked by default: say so, or the body would be read as the next request.
      if (request.chunked) outgoing.setHeader('Transfer-Encoding', 'chunked');
      else outgoing.setHeader('Content-Length', body.byteLength);
    }
    const timer = setTimeout(() => {
      outgoing.destroy(
        new HangError(
          `no answer to ${request.method} ${request.path} within ${request.timeoutMs ?? 15_000} ms`,
        ),
      );
    }, request.timeoutMs ?? 15_000);
    outgoing.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    outgoing.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      incoming.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          text,
          elapsedMs: performance.now() - started,
          json: () => {
            try {
              return JSON.parse(text) as unknown;
            } catch {
              return undefined;
            }
          },
        });
      });
    });
    if (request.abortAfterSentMs !== undefined) {
      const abortAfter = request.abortAfterSentMs;
      outgoing.on('finish', () => {
        setTimeout(() => outgoing.destroy(new AbortedByClient('aborted by the client')), abortAfter);
      });
    }
    if (body !== undefined && request.chunked) {
      for (let offset = 0; offset < body.byteLength; offset += 4096)
        outgoing.write(body.subarray(offset, offset + 4096));
      outgoing.end();
    } else {
      outgoing.end(body);
    }
  });
}

/** What is wrong with an error answer as an RFC 9457 problem document (empty when it is one). */
export function problemViolations(response: RawResponse, method = 'GET'): string[] {
  const violations: string[] = [];
  const contentType = String(response.headers['content-type'] ?? '');
  if (!contentType.startsWith(PROBLEM_CONTENT_TYPE)) violations.push(`content-type is "${contentType}"`);
  if (method === 'HEAD') return violations;
  const body = response.json() as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return [...violations, 'body is not a JSON object'];
  for (const field of ['type', 'title', 'detail'] as const) {
    if (typeof body[field] !== 'string' || (body[field] as string).length === 0)
      violations.push(`no ${field}`);
  }
  if (body.status !== response.status) violations.push(`status ${String(body.status)} != ${response.status}`);
  if (/\bat .+:\d+:\d+\)?/.test(response.text)) violations.push('a stack trace');
  return violations;
}

/** Route parameters that only accept one value: the admin routes' first segment must read `admin`. */
const FIXED_PARAMETERS: Record<string, string> = { area: 'admin' };

/** A concrete path for a route template: parameters get `values` (or a sample), a catch-all a path no route has. */
export function pathFor(route: Pick<RouteDefinition, 'route'>, given: Record<string, string> = {}): string {
  const values = { ...FIXED_PARAMETERS, ...given };
  const filled = route.route
    .split('/')
    .map((segment) => {
      const parameter = /^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment);
      if (!parameter) return segment;
      return values[parameter[2]!] ?? (parameter[1] ? 'no/such/path' : 'sample-user');
    })
    .join('/');
  return `/api/${filled}`;
}

/** The routes of the table that are not the catch-all. */
export function namedRoutes(): RouteDefinition[] {
  return routes.filter((route) => !route.route.includes('{*'));
}

/** Each (method, path) pair of the route table, with templates filled with `values`. */
export function routeEndpoints(
  values: Record<string, string> = {},
): { route: RouteDefinition; method: string; path: string }[] {
  return namedRoutes().flatMap((route) =>
    route.methods
      .filter((method) => method !== 'OPTIONS' && method !== 'HEAD')
      .map((method) => ({ route, method, path: pathFor(route, values) })),
  );
}

export const uniqueUser = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

export const authorization = (token: string) => ({ Authorization: `Bearer ${token}` });
