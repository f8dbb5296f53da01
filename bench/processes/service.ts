import { startLocalHost } from '../../dev/local-host.js';
import { serveFromParent } from '../lib/child.js';

export interface ServiceChildConfig {
  /** The app settings of the service under test. */
  env: Record<string, string>;
}

/** Our service as the local host serves it (same route table and handlers as Azure), one process per scenario. */
serveFromParent<ServiceChildConfig>(async ({ env }) => {
  const host = await startLocalHost({ env });
  if (!host.services.ready) {
    await host.close();
    throw new Error(`invalid settings: ${host.services.settingNames.join(', ')}`);
  }
  return host;
});
