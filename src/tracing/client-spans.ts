import type { Instrumenter } from '@azure/core-tracing';
import { createOpenTelemetryInstrumenter } from '@azure/opentelemetry-instrumentation-azure-sdk';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/**
 * Client spans from the libraries' own instrumentation:
 * - jose fetches the identity provider's key set with `fetch` (undici), traced from undici's diagnostics channels;
 * - the Azure SDK clients (ACS, Table Storage, Key Vault, the managed identity's token requests) trace themselves
 *   through @azure/core-tracing once it has an OpenTelemetry instrumenter, returned here for start.ts to install.
 *   AzureSdkInstrumentation would install it by hooking `require('@azure/core-tracing')`, which never happens in
 *   the bundle (dist/index.cjs), and this file runs from another bundle (dist/telemetry-*.cjs) whose copy of
 *   @azure/core-tracing the service's clients never use.
 */
export function traceClients(): Instrumenter {
  registerInstrumentations({ instrumentations: [new UndiciInstrumentation()] });
  return createOpenTelemetryInstrumenter();
}
