import { startEmulator } from '../../dev/emulator/index.js';
import { serveFromParent } from '../lib/child.js';

export interface EmulatorChildConfig {
  /** Where the emulator's CA is kept; its certificate is what the servers under test must trust. */
  tlsDir: string;
}

/** The ACS emulator in its own process, over HTTPS like the real service, so its work never slows the load generator. */
serveFromParent<EmulatorChildConfig>(async ({ tlsDir }) => {
  const emulator = await startEmulator({ https: true, tlsDir });
  return {
    url: emulator.endpoint,
    details: { connectionString: emulator.connectionString, caCertPath: emulator.caCertPath ?? '' },
    close: () => emulator.close(),
  };
});
