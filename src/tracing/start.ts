import { useInstrumenter } from '@azure/core-tracing';
import * as azureFunctions from '@azure/functions';
import { consoleLogger, type Logger } from '../log.js';
import { telemetryTarget } from './config.js';
import type { StartedTelemetry } from './otlp.js';
import { markTelemetryOn } from './state.js';

/**
 * Starts OpenTelemetry when the environment configures it (src/tracing/config.ts), before the first request.
 * The SDKs are imported only then (sdk.ts, its own bundle): without telemetry, a cold start does not even read them.
 */
export async function startTelemetry(
  env: Record<string, string | undefined> = process.env,
  log: Logger = consoleLogger,
): Promise<StartedTelemetry | undefined> {
  const target = telemetryTarget(env);
  if (target.kind === 'off') return undefined;
  let started: StartedTelemetry;
  try {
    const sdk = await import('./sdk.js');
    started =
      target.kind === 'azure-monitor'
        ? sdk.startAzureMonitor(azureFunctions, target.connectionString, target.managedIdentityClientId)
        : sdk.startOtlp(target.kind);
  } catch (error) {
    // The service runs on without telemetry; the error's name only, as its message could quote a setting.
    log('warning', { event: 'telemetry_failed', exporter: target.kind, name: (error as Error)?.name });
    return undefined;
  }
  useInstrumenter(started.azureSdkInstrumenter);
  markTelemetryOn();
  // The kind only: neither the connection string nor the endpoint goes to a log line.
  log('information', { event: 'telemetry_started', exporter: target.kind });
  return started;
}
