import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { EmulatorContext, ManagedIdentities } from './context.js';
import { EntraAuthority } from './entra.js';
import { type FaultSettings, Faults } from './faults.js';
import { RepeatabilityLedger } from './repeatability.js';
import { createRequestListener } from './server.js';
import { EmulatorState } from './state.js';
import { type Clock, systemClock } from './time.js';
import { ensureCertificateAuthority } from './tls.js';
import { AcsTokenSigner } from './tokens.js';

export interface EmulatorOptions {
  /** Default 0 (a free port); the CLI defaults to 8871. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Base64; default 32 random bytes. */
  accessKey?: string;
  /** GUID used in identity ids 8:acs:<resourceId>_<suffix>; default random. */
  resourceId?: string;
  /** Serve HTTPS with a leaf certificate signed by the emulator CA (needed for Entra ID bearer tokens). */
  https?: boolean;
  /** Where the CA lives (created if absent); default '.artifacts/emulator-tls'. */
  tlsDir?: string;
  latencyMs?: number;
  failRate?: number;
  failStatus?: 429 | 500 | 503;
  throttle?: boolean;
  /** Retry-After seconds on injected 429/503 faults; default 1. */
  faultRetryAfterSeconds?: number;
  /** Client ids of user-assigned managed identities the emulated app has; others are refused like App Service does. */
  userAssignedClientIds?: string[];
  /** The emulator's clock in ms since the epoch (tokens, expiry, HMAC date skew, throttle windows); default Date.now. */
  clock?: Clock;
}

export interface RunningEmulator {
  /** 'http://127.0.0.1:PORT/' (https with https: true), with a trailing slash. */
  endpoint: string;
  /** 'endpoint=<endpoint>;accesskey=<key>' */
  connectionString: string;
  accessKey: string;
  resourceId: string;
  caCertPath?: string;
  /** Values for IDENTITY_ENDPOINT / IDENTITY_HEADER, and the system-assigned identity's client id. */
  managedIdentity: { endpoint: string; header: string; clientId: string };
  setFaults(f: FaultSettings): void;
  close(): Promise<void>;
}

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const accessKey = options.accessKey ?? randomBytes(32).toString('base64');
  const resourceId = (options.resourceId ?? randomUUID()).toLowerCase();
  if (!guidPattern.test(resourceId)) throw new Error('resourceId must be a GUID.');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(accessKey)) throw new Error('accessKey must be base64.');
  const host = options.host ?? '127.0.0.1';

  const entra = await EntraAuthority.create();
  const ctx: EmulatorContext = {
    accessKey,
    https: options.https ?? false,
    bindHost: host,
    clock: options.clock ?? systemClock,
    state: new EmulatorState(resourceId),
    faults: new Faults({
      latencyMs: options.latencyMs,
      failRate: options.failRate,
      failStatus: options.failStatus,
      throttle: options.throttle,
      retryAfterSeconds: options.faultRetryAfterSeconds,
    }),
    repeatability: new RepeatabilityLedger(),
    signer: await AcsTokenSigner.create(resourceId),
    entra,
    managedIdentities: managedIdentities(entra.tenantId, options.userAssignedClientIds ?? []),
  };

  const listener = createRequestListener(ctx);
  let caCertPath: string | undefined;
  let server: http.Server;
  if (ctx.https) {
    const ca = await ensureCertificateAuthority(path.resolve(options.tlsDir ?? '.artifacts/emulator-tls'));
    caCertPath = ca.caCertPath;
    const leaf = await ca.issueServerCertificate([...new Set(['127.0.0.1', 'localhost', '::1', host])]);
    server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, listener);
  } else {
    server = http.createServer(listener);
  }
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');

  const { port } = server.address() as AddressInfo;
  const endpoint = `${ctx.https ? 'https' : 'http'}://${urlHost(host)}:${port}/`;
  return {
    endpoint,
    connectionString: `endpoint=${endpoint};accesskey=${accessKey}`,
    accessKey,
    resourceId,
    ...(caCertPath ? { caCertPath } : {}),
    managedIdentity: {
      endpoint: `${endpoint}msi/token`,
      header: ctx.managedIdentities.header,
      clientId: ctx.managedIdentities.systemAssigned.appId,
    },
    setFaults: (faults) => ctx.faults.update(faults),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function managedIdentities(tenantId: string, userAssignedClientIds: readonly string[]): ManagedIdentities {
  const principal = (appId: string) => ({ appId, objectId: randomUUID(), tenantId });
  return {
    header: randomBytes(16).toString('hex'),
    systemAssigned: principal(randomUUID()),
    userAssigned: new Map(userAssignedClientIds.map((id) => [id.toLowerCase(), principal(id.toLowerCase())])),
  };
}

/** A host as it appears in a URL: wildcard binds are reached through loopback, IPv6 literals get brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
