import { createSecretKey } from 'node:crypto';
import { isLoopbackUrl } from '../../shared/loopback.js';
import { type TableConnection, tableServiceUrl } from '../../shared/table-client.js';
import { StaticKeyRing } from './key-ring.js';

/**
 * The built-in development sealing key. PUBLIC BY DESIGN, like Azurite's account key: it is in this repository, so
 * it protects nothing. It exists so that a local cluster sharing one Azurite shares token reuse with zero settings;
 * createTokenSealer uses it only when the identity store is in memory or is the local development storage
 * (isDevelopmentStorage).
 */
const DEVELOPMENT_KEY_BASE64 = 'CP1Cwz2j7I7yeUKyyvc7z1RC1zPnnYj+RgdLvuWHhkY=';

/** The id sealed values carry; it says at a glance that a value was sealed with the public key. */
export const DEVELOPMENT_KEY_ID = 'dev';

export function developmentKeyRing(): StaticKeyRing {
  return new StaticKeyRing([
    { id: DEVELOPMENT_KEY_ID, key: createSecretKey(Buffer.from(DEVELOPMENT_KEY_BASE64, 'base64')) },
  ]);
}

/**
 * Azurite's well-known account: the name and key Microsoft publishes for the storage emulator
 * (https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key). No real
 * account can have this key, so a connection string carrying it reaches an emulator, never data of value.
 */
export const DEVELOPMENT_ACCOUNT = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
};

/**
 * True only for the local development storage: `UseDevelopmentStorage=true`, or Azurite's well-known account and
 * key on a loopback endpoint. A loopback host name alone proves nothing (a tunnel or TLS sidecar to a real account
 * is loopback too, and so is any SAS or managed-identity endpoint), so those keep reuse per instance.
 */
export function isDevelopmentStorage(connection: TableConnection): boolean {
  if (connection.kind !== 'connectionString') return false;
  const settings = new Map<string, string>();
  for (const part of connection.connectionString.split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0) settings.set(part.slice(0, equals).trim().toLowerCase(), part.slice(equals + 1).trim());
  }
  if (settings.get('usedevelopmentstorage')?.toLowerCase() === 'true') return true;
  const endpoint = tableServiceUrl(connection);
  return (
    settings.get('accountname') === DEVELOPMENT_ACCOUNT.name &&
    settings.get('accountkey') === DEVELOPMENT_ACCOUNT.key &&
    endpoint !== undefined &&
    isLoopbackUrl(endpoint)
  );
}
