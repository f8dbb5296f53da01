import { startTelemetry } from '../src/tracing/start.js';
import { startLocalHost } from './local-host.js';

/**
 * One instance of the service as its own process, with the settings of its environment: what a Function App
 * instance is. Several of them over one Azurite make a local deployment (test/integration/scale-out.test.ts,
 * `npm run bench -- --only scale`). PORT picks the port (default a free one); the first line on stdout is
 * `{"event":"listening","url":...}`. SIGTERM and SIGINT drain requests in flight, as the Functions host does,
 * before the process exits.
 */
const DRAIN_GRACE_MS = 30_000;

const port = Number(process.env.PORT ?? 0);
const telemetry = await startTelemetry();
const host = await startLocalHost({ port, env: process.env });
if (!host.services.ready) {
  console.error(JSON.stringify({ event: 'invalid_settings', settingNames: host.services.settingNames }));
  await host.close();
  process.exit(2);
}
console.log(JSON.stringify({ event: 'listening', url: host.url }));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    host
      .close({ graceMs: DRAIN_GRACE_MS })
      .then(() => telemetry?.shutdown())
      .finally(() => process.exit(0));
  });
}
