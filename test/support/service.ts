import { randomUUID } from 'node:crypto';
import functions, { type HttpResponseInit } from '@azure/functions';
import { inject } from 'vitest';
import {
  type DevClaims,
  type DevIssuer,
  devUserIds,
  type MintOptions,
  startDevIssuer,
} from '../../dev/dev-issuer.js';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../dev/emulator/index.js';
import type { Stats } from '../../dev/emulator/state.js';
import { invokeRoute, type LocalHost, type LocalHostOptions, startLocalHost } from '../../dev/local-host.js';
import type { JwtValidatorOptions } from '../../src/caller/jwt.js';
import { hasIdentity, type IdentityMapping } from '../../src/identities/identity-store.js';
import type { LogLevel } from '../../src/log.js';
import type { Services, ServicesState } from '../../src/services.js';
import { emulatorAdmin, type Introspection, postToken } from './emulator-admin.js';

export interface ServiceOptions {
  /** Identity store: `memory` (default) or `table` on the run's Azurite (a fresh table per service). */
  store?: 'memory' | 'table';
  /** Storage for `table`; default the run's Azurite (`inject('azuriteConnectionString')`). */
  storageConnectionString?: string;
  /** Extra or overriding app settings; `undefined` removes a setting the helper would set. */
  env?: Record<string, string | undefined>;
  /** An emulator to reuse (not closed by close()), or options for a new one. */
  emulator?: RunningEmulator | EmulatorOptions;
  /** A dev issuer to reuse (not closed by close()); default a new one. */
  issuer?: DevIssuer;
  /** Key-set cache tuning for the host's JWT validator. */
  jwt?: JwtValidatorOptions;
  /** Run the app behind the local copy of the Flex Consumption front (dev/flex-front.ts). */
  flexFront?: LocalHostOptions['flexFront'];
}

export interface LogRecord {
  level: LogLevel;
  line: string;
}

export type EmulatorStats = Stats;

export type { Introspection } from './emulator-admin.js';

export interface RunningService {
  /** `http://127.0.0.1:PORT` of the local host. */
  url: string;
  /** The absolute URL of an API path, e.g. api('token') or api('/token?scopes=chat'). */
  api(path: string): string;
  /**
   * Calls an API path in-process, as the Functions host hands a request to the app: the same route table, handlers
   * and services as over HTTP, without a socket. For tests of what the app answers; tests of the HTTP layer itself
   * (the local host, the Flex front, real browsers) use `api()` with fetch.
   */
  call(path: string, init?: RequestInit): Promise<Response>;
  host: LocalHost;
  /** The host's services; throws when the settings were invalid. */
  services(): Services;
  emulator: RunningEmulator;
  issuer: DevIssuer;
  /** The app settings the host was started with. */
  env: Record<string, string>;
  tableName: string | undefined;
  /** Every log line the host wrote, in order. */
  logs: LogRecord[];
  /** A caller token from the dev issuer for a user name (stable oid/sub per name). */
  tokenFor(user: string, claims?: DevClaims, options?: MintOptions): Promise<string>;
  /** POST /api/token as `user` (a user name, minted here) with an optional JSON body. */
  requestToken(user: string, body?: unknown): Promise<Response>;
  emulatorStats(): Promise<EmulatorStats>;
  emulatorIdentities(): Promise<string[]>;
  introspect(token: string): Promise<Introspection>;
  /** Every record in the host's identity store that names an identity (pending claims left out). */
  mappings(): Promise<IdentityMapping[]>;
  close(): Promise<void>;
}

function isRunning(emulator: RunningEmulator | EmulatorOptions | undefined): emulator is RunningEmulator {
  return emulator !== undefined && 'connectionString' in emulator;
}

/**
 * The token service as tests meet it: the ACS emulator, a dev issuer and the local host over real HTTP, with the
 * given settings. Everything started here is stopped by close().
 */
export async function startService(options: ServiceOptions = {}): Promise<RunningService> {
  const owned: { close(): Promise<void> }[] = [];
  try {
    const emulator = isRunning(options.emulator) ? options.emulator : await startEmulator(options.emulator);
    if (!isRunning(options.emulator)) owned.push(emulator);
    const issuer = options.issuer ?? (await startDevIssuer());
    if (!options.issuer) owned.push(issuer);

    const tableName =
      options.store === 'table' ? `T${randomUUID().replaceAll('-', '').slice(0, 24)}` : undefined;
    const defaults: Record<string, string | undefined> = {
      COMMUNICATION_SERVICES_CONNECTION_STRING: emulator.connectionString,
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: issuer.audience,
      // On in production. Tests count ACS calls per request, so they start from the plain path; the reuse tests
      // turn it on.
      TOKEN_REUSE: 'false',
      ...(tableName
        ? {
            IDENTITY_STORE: 'table',
            IDENTITY_STORE_CONNECTION_STRING:
              options.storageConnectionString ?? inject('azuriteConnectionString'),
            IDENTITY_TABLE_NAME: tableName,
          }
        : { IDENTITY_STORE: 'memory' }),
    };
    const env = Object.fromEntries(
      Object.entries({ ...defaults, ...options.env }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );

    const logs: LogRecord[] = [];
    const log = (level: LogLevel, line: string) => {
      logs.push({ level, line });
    };
    const host = await startLocalHost({
      env,
      log,
      ...(options.jwt ? { jwt: options.jwt } : {}),
      ...(options.flexFront ? { flexFront: options.flexFront } : {}),
    });
    owned.push(host);

    const acs = emulatorAdmin(emulator);
    const services = () => {
      if (!host.services.ready) throw new Error(`invalid settings: ${host.services.settingNames.join(', ')}`);
      return host.services.services;
    };
    const tokenFor = (user: string, claims: DevClaims = {}, mintOptions?: MintOptions) =>
      issuer.mint({ ...devUserIds(user), name: user, ...claims }, mintOptions);

    return {
      url: host.url,
      api: (path) => `${host.url}/api/${path.replace(/^\/+/, '')}`,
      call: (path, init) => callApp(host.services, path, init, log),
      host,
      services,
      emulator,
      issuer,
      env,
      tableName,
      logs,
      tokenFor,
      requestToken: async (user, body) => postToken(host.url, await tokenFor(user), body),
      emulatorStats: acs.stats,
      emulatorIdentities: acs.identities,
      introspect: acs.introspect,
      async mappings() {
        const all: IdentityMapping[] = [];
        for await (const record of services().store.list()) if (hasIdentity(record)) all.push(record);
        return all;
      },
      async close() {
        for (const piece of owned.reverse()) await piece.close();
      },
    };
  } catch (error) {
    for (const piece of owned.reverse()) await piece.close();
    throw error;
  }
}

/**
 * Calls the app in-process with the given services, as the Functions host hands it a request (no socket): the route
 * table, the handlers and an HttpRequest built the same way as dev/local-host.ts builds it. Answers as fetch would.
 */
export async function callApp(
  services: ServicesState,
  path: string,
  init: RequestInit = {},
  log: (level: LogLevel, line: string) => void = () => {},
): Promise<Response> {
  const method = (init.method ?? 'GET').toUpperCase();
  // As the platform's front end does, the client's address is appended to X-Forwarded-For.
  const headers: Record<string, string> = { 'x-forwarded-for': '127.0.0.1' };
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = name === 'x-forwarded-for' ? `${value}, 127.0.0.1` : value;
  });
  const body = typeof init.body === 'string' ? init.body : '';
  const url = new URL(`/api/${path.replace(/^\/+/, '')}`, 'http://127.0.0.1');
  const answer = await invokeRoute(services, { method, url, headers, body: Buffer.from(body) }, log);
  return toFetchResponse(answer, method);
}

/** The answer as a client receives it, serialised the way the Functions host does (`HttpResponse`). */
async function toFetchResponse(answer: HttpResponseInit, method: string): Promise<Response> {
  const serialised = new functions.HttpResponse(answer);
  const bytes = serialised.body === null ? new ArrayBuffer(0) : await serialised.arrayBuffer();
  const bodyless =
    method.toUpperCase() === 'HEAD' || [204, 304].includes(serialised.status) || bytes.byteLength === 0;
  return new Response(bodyless ? null : bytes, { status: serialised.status, headers: serialised.headers });
}
