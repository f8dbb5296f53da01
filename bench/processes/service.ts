import { startLocalHost } from '../../dev/local-host.js';
import { startTelemetry } from '../../src/tracing/start.js';
import { serveFromParent } from '../lib/child.js';

export interface ServiceChildConfig {
  /** The app settings of the service under test. */
  env: Record<string, string>;
  /** False keeps reusable tokens per instance even over a shared store (the scale-out comparison). */
  shareReusableTokens?: boolean;
}

/** Our service as the local host serves it (same route table and handlers as Azure), one process per scenario. */
serveFromParent<ServiceChildConfig>(async ({ env, shareReusableTokens }) => {
  // As dev/local-host-cli.ts does: telemetry when the settings configure it, off otherwise.
  const telemetry = await startTelemetry(env);
  const host = await startLocalHost({
    env,
    ...(shareReusableTokens === false ? { shareReusableTokens } : {}),
  });
  if (!host.services.ready) {
    await host.close();
    throw new Error(`invalid settings: ${host.services.settingNames.join(', ')}`);
  }
  if (!telemetry) return host;
  // The spans still batched go out before the process exits, so the collector counts every request.
  return {
    url: host.url,
    async close() {
      await host.close();
      await telemetry.shutdown();
    },
  };
});
