import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import { type RunningEmulator, startEmulator } from '../../dev/emulator/index.js';
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '../../dev/otlp-receiver.js';
import { toTableKey } from '../../src/identities/table/table-keys.js';
import { type RunningAzurite, startAzurite } from '../support/azurite.js';
import { useKeyVaultEmulator } from '../support/key-vault.js';
import { LogCapture } from '../support/log-capture.js';
import { startTracedProcess, type TracedProcess } from '../support/traced-process.js';
import { trackIssuer, trackUser, uniqueUser } from './harness.js';

/**
 * Every span and metric a real service process exports, scanned for secrets as the log test scans log lines
 * (secret-hygiene.test.ts, the same detectors): a service process (dev/local-host-cli.ts) with its telemetry sent
 * as OTLP/HTTP JSON to a collector on loopback, over Azurite, the ACS emulator, the Key Vault emulator (sealed
 * tokens) and the dev identity provider, through issued, reused, refused and revoked tokens.
 */
const capture = new LogCapture();
const vault = useKeyVaultEmulator();
let azurite: RunningAzurite;
let emulator: RunningEmulator;
let issuer: DevIssuer;
let receiver: OtlpReceiver;
let service: TracedProcess;
let api: string;

beforeAll(async () => {
  [azurite, emulator, issuer, receiver] = await Promise.all([
    startAzurite(),
    startEmulator(),
    startDevIssuer(),
    startOtlpReceiver(),
  ]);
  trackIssuer(issuer, capture);
  const keyName = `seal-${randomUUID().slice(0, 8)}`;
  vault().createKey(keyName);
  const env = {
    COMMUNICATION_SERVICES_CONNECTION_STRING: emulator.connectionString,
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    IDENTITY_STORE: 'table',
    IDENTITY_STORE_CONNECTION_STRING: azurite.connectionString,
    TOKEN_SEALING_KEY_URL: vault().keyUrl(keyName),
    IDENTITY_ENDPOINT: vault().managedIdentity.endpoint,
    IDENTITY_HEADER: vault().managedIdentity.header,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    PORT: '0',
  };
  capture.secret('ACS access key', emulator.accessKey);
  capture.secret('ACS connection string', emulator.connectionString);
  capture.secret('storage connection string', azurite.connectionString);
  capture.secret('managed identity header', vault().managedIdentity.header);
  service = startTracedProcess(process.execPath, ['--import', 'tsx', 'dev/local-host-cli.ts'], env);
  api = `${(JSON.parse(await service.line(/^\{"event":"listening"/)) as { url: string }).url}/api`;
});

afterAll(async () => {
  await service?.stop();
  await Promise.all([receiver?.close(), issuer?.close(), emulator?.close(), azurite?.stop()]);
});

async function call(path: string, init: RequestInit & { bearer?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.bearer) headers.set('Authorization', `Bearer ${init.bearer}`);
  if (init.body) headers.set('Content-Type', 'application/json');
  const response = await fetch(`${api}/${path}`, { ...init, headers });
  const body = (await response.json().catch(() => undefined)) as
    | { token?: string; user?: { communicationUserId?: string } }
    | undefined;
  if (body?.token) capture.secret('ACS token', body.token);
  return { status: response.status, body };
}

describe('spans and metrics of a service process', () => {
  it('carry no token, key, connection string or user id, through issued, reused, refused and revoked tokens', async () => {
    const user = uniqueUser('spans');
    trackUser(capture, issuer.issuer, user);
    const ids = devUserIds(user);
    // A span would show ids as URLs carry them: a Table row key is the user id base64url-encoded.
    capture.user({
      issuer: issuer.issuer,
      userId: toTableKey(ids.oid),
      aliases: [toTableKey(issuer.issuer)],
    });
    const caller = await issuer.mint({ ...ids, name: user });

    const issued = await call('token', { method: 'POST', bearer: caller, body: '{"scopes":["chat"]}' });
    expect(issued.status).toBe(200);
    const acsId = issued.body?.user?.communicationUserId;
    expect(acsId).toMatch(/^8:acs:/);
    // The user's ACS identity names them too, in clear or as a URL path carries it.
    capture.user({ issuer: issuer.issuer, userId: acsId!, aliases: [encodeURIComponent(acsId!)] });
    expect(
      (await call('token', { method: 'POST', bearer: caller, body: '{"scopes":["chat"]}' })).status,
    ).toBe(200);
    expect((await call('identity', { bearer: caller })).status).toBe(200);

    const expired = await issuer.mint({ sub: 'expired' }, { expiresInSeconds: -60 });
    const forged = `${caller.slice(0, caller.lastIndexOf('.'))}.${Buffer.from('forged-signature-bytes').toString('base64url')}`;
    capture.secret('forged JWT', forged);
    for (const bearer of [expired, forged, 'not-a-jwt']) {
      expect((await call('token', { method: 'POST', bearer, body: '{}' })).status).toBe(401);
    }
    expect((await call('token', { method: 'POST', body: '{}' })).status).toBe(401);

    expect((await call('identity/revoke', { method: 'POST', bearer: caller })).status).toBeLessThan(300);

    // SIGTERM: the process exports what it still holds before it exits.
    expect(await service.stop()).toBe(0);
    const spans = receiver.spans;
    expect(spans.filter((span) => span.kind === SPAN_KIND.server).length).toBeGreaterThanOrEqual(7);
    const clients = spans.filter((span) => span.kind === SPAN_KIND.client);
    const namespaces = new Set(clients.map((span) => span.attributes['az.namespace']));
    // Each dependency traced by its own library: Table Storage, ACS and Key Vault by the Azure SDK, the key set by fetch.
    for (const namespace of ['Microsoft.Data.Tables', 'Microsoft.Communication', 'Microsoft.KeyVault']) {
      expect(namespaces).toContain(namespace);
    }
    expect(clients.some((span) => span.attributes['url.path'] === new URL(issuer.jwksUri).pathname)).toBe(
      true,
    );
    // The request log line carries its trace id.
    const requestLines = service.lines.filter((line) => line.startsWith('{"event":"request"'));
    const serverTraces = new Set(
      spans.filter((span) => span.kind === SPAN_KIND.server).map((span) => span.traceId),
    );
    expect(requestLines.length).toBeGreaterThanOrEqual(8);
    for (const line of requestLines)
      expect(serverTraces).toContain((JSON.parse(line) as { traceId: string }).traceId);
    expect(receiver.posts.some((post) => post.path === '/v1/metrics')).toBe(true);

    for (const body of receiver.bodies) capture.hostLog('otlp', body);
    expect(capture.scan()).toEqual([]);
  });
});
