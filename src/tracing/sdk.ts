/**
 * The telemetry SDKs, loaded only when telemetry is configured (start.ts). The build makes this its own bundle,
 * dist/telemetry.cjs, so that a cold start without telemetry neither reads nor compiles it (scripts/build.ts).
 */
export { startAzureMonitor } from './azure-monitor.js';
export { startOtlp } from './otlp.js';
