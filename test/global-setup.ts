import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureCertificateAuthority } from '../dev/emulator/tls.js';
import { startAzurite } from './support/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
    emulatorCaCertPath: string;
  }
}

/**
 * Runs once per test run, before the test workers start: the emulator's CA must exist and be named by
 * NODE_EXTRA_CA_CERTS before any worker process starts, because Node reads that variable only at start-up.
 */
export default async function setup(project: TestProject) {
  const tls = await ensureCertificateAuthority(path.resolve('.artifacts/test-tls'));
  process.env.NODE_EXTRA_CA_CERTS = tls.caCertPath;
  project.provide('emulatorCaCertPath', tls.caCertPath);

  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);

  return async () => {
    await azurite.stop();
  };
}
