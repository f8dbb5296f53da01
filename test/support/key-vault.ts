import path from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import {
  type KeyVaultEmulatorOptions,
  type RunningKeyVaultEmulator,
  startKeyVaultEmulator,
} from '../../dev/keyvault/index.js';

/**
 * A Key Vault emulator for the tests of one suite, trusted through the run's CA, with the process's managed identity
 * (IDENTITY_ENDPOINT / IDENTITY_HEADER, which DefaultAzureCredential reads) pointed at it as App Service would; the
 * environment is put back afterwards. Read `vault()` inside tests or hooks.
 */
export function useKeyVaultEmulator(
  options: Omit<KeyVaultEmulatorOptions, 'tlsDir'> = {},
): () => RunningKeyVaultEmulator {
  let vault: RunningKeyVaultEmulator | undefined;
  const saved = {
    IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT,
    IDENTITY_HEADER: process.env.IDENTITY_HEADER,
  };
  beforeAll(async () => {
    vault = await startKeyVaultEmulator({ ...options, tlsDir: path.dirname(inject('emulatorCaCertPath')) });
    process.env.IDENTITY_ENDPOINT = vault.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = vault.managedIdentity.header;
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await vault?.close();
  });
  return () => {
    if (!vault) throw new Error('the Key Vault emulator is started in beforeAll');
    return vault;
  };
}
