import { useInstrumenter } from '@azure/core-tracing';
import * as azureFunctions from '@azure/functions';
import { consoleLogger, type Logger } from '../log.js';
import { telemetryTarget } from './config.js';
import type { StartedTelemetry } from './otlp.js';
import { markTelemetryOn } from './state.js';

/**
 * Starts OpenTelemetry when the environment configures it (src/tracing/config.ts), before the first request.
 * The SDK is imported only then, and only the one configured: each is a bundle of its own (scripts/build.ts,
 * ON_DEMAND_BUNDLES), so a cold start without telemetry does not even read them, and OTLP does not read the distro.
 */
export async function startTelemetry(
  env: Record<string, string | undefined> = process.env,
  log: Logger = consoleLogger,
): Promise<StartedTelemetry | undefined> {
  const target = telemetryTarget(env);
  if (target.kind === 'off') return undefined;
  let started: StartedTelemetry;
  try {
    started =
      target.kind === 'azure-monitor'
        ? (await import('./azure-monitor.js')).startAzureMonitor(
            azureFunctions,
            target.connectionString,
            target.managedIdentityClientId,
          )
        : (await import('./otlp.js')).startOtlp(target.kind, env);
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
