import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { EntraAuthority } from '../emulator/entra.js';
import { ensureCertificateAuthority } from '../emulator/tls.js';
import { type KeyOperation, KeyStore } from './keys.js';
import { createKeyVaultListener, type KeyVaultContext, type KeyVaultOperation } from './server.js';

export interface KeyVaultEmulatorOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** A loopback address; default '127.0.0.1'. */
  host?: string;
  /** Where the emulator CA lives (shared with the ACS emulator); default '.artifacts/emulator-tls'. */
  tlsDir?: string;
  /** Client ids of user-assigned managed identities the emulated app has (AZURE_CLIENT_ID). */
  userAssignedClientIds?: string[];
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number;
}

export interface RunningKeyVaultEmulator {
  /** `https://127.0.0.1:<port>`: the vault URL key identifiers start with. */
  vaultUrl: string;
  /** NODE_EXTRA_CA_CERTS must name this file in processes that talk to the emulator. */
  caCertPath: string;
  /** Values for IDENTITY_ENDPOINT / IDENTITY_HEADER, and the system-assigned identity's client id. */
  managedIdentity: { endpoint: string; header: string; clientId: string };
  /**
   * Creates a new RSA version of `name` (the key too, the first time) permitting `operations` (default: sign, as
   * infra/app/keyvault.bicep gives the sealing key); returns its versioned key identifier.
   */
  createKey(name: string, operations?: readonly KeyOperation[]): string;
  /** The versionless key identifier (follows the newest version), as TOKEN_SEALING_KEY_URL takes it. */
  keyUrl(name: string): string;
  /** Enables or disables one version, as the portal's "Enabled" switch does; a disabled version refuses everything. */
  setKeyEnabled(versionedKeyId: string, enabled: boolean): void;
  /** Takes away (false) or gives back an identity's role on the keys: its valid tokens then get 403. */
  setAccess(clientId: string, allowed: boolean): void;
  /** Requests served, by operation. */
  stats(): Record<KeyVaultOperation, number>;
  close(): Promise<void>;
}

/** A local stand-in for Azure Key Vault's keys API over HTTPS, which the real @azure/keyvault-keys SDK talks to. */
export async function startKeyVaultEmulator(
  options: KeyVaultEmulatorOptions = {},
): Promise<RunningKeyVaultEmulator> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? Date.now;
  const entra = await EntraAuthority.create();
  const principal = (appId: string) => ({ appId, objectId: randomUUID(), tenantId: entra.tenantId });
  const keys = new KeyStore(clock);
  const ctx: KeyVaultContext = {
    vaultUrl: '',
    keys,
    entra,
    clock,
    identities: {
      header: randomBytes(16).toString('hex'),
      systemAssigned: principal(randomUUID()),
      userAssigned: new Map(
        (options.userAssignedClientIds ?? []).map((id) => [id.toLowerCase(), principal(id.toLowerCase())]),
      ),
    },
    denied: new Set(),
    counts: { getKey: 0, wrapKey: 0, unwrapKey: 0, sign: 0, challenge: 0, managedIdentityToken: 0 },
  };

  const ca = await ensureCertificateAuthority(path.resolve(options.tlsDir ?? '.artifacts/emulator-tls'));
  const leaf = await ca.issueServerCertificate([...new Set(['127.0.0.1', 'localhost', '::1', host])]);
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, createKeyVaultListener(ctx));
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  ctx.vaultUrl = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const parseKeyId = (keyId: string) => {
    const [, collection, name, version] = new URL(keyId).pathname.split('/');
    if (collection !== 'keys' || !name || !version) throw new Error('Not a versioned key identifier');
    return { name, version };
  };
  return {
    vaultUrl: ctx.vaultUrl,
    caCertPath: ca.caCertPath,
    managedIdentity: {
      endpoint: `${ctx.vaultUrl}/msi/token`,
      header: ctx.identities.header,
      clientId: ctx.identities.systemAssigned.appId,
    },
    createKey: (name, operations) => `${ctx.vaultUrl}/keys/${name}/${keys.create(name, operations).version}`,
    keyUrl: (name) => `${ctx.vaultUrl}/keys/${name}`,
    setKeyEnabled(keyId, enabled) {
      const { name, version } = parseKeyId(keyId);
      keys.setEnabled(name, version, enabled);
    },
    setAccess(clientId, allowed) {
      if (allowed) ctx.denied.delete(clientId.toLowerCase());
      else ctx.denied.add(clientId.toLowerCase());
    },
    stats: () => ({ ...ctx.counts }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
