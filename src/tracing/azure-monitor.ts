import type * as azureFunctions from '@azure/functions';
import functionsInstrumentation from '@azure/functions-opentelemetry-instrumentation';
import { ManagedIdentityCredential } from '@azure/identity';
import { shutdownAzureMonitor, useAzureMonitor } from '@azure/monitor-opentelemetry';
import { traceClients } from './client-spans.js';
import type { StartedTelemetry } from './otlp.js';
import { UserIdRedactingProcessor } from './redact-urls.js';

/**
 * On Azure: the Azure Monitor OpenTelemetry distro, exporting to the Application Insights of
 * APPLICATIONINSIGHTS_CONNECTION_STRING with the managed identity's Entra ID token (the connection string's key is
 * then not what authorises ingestion). Only what this service calls is instrumented: the Azure SDK clients and the
 * key-set fetch (client-spans.ts); the distro's database and logging-library instrumentations stay off, and so does
 * its `http` one, whose spans would double the Azure SDK's own HTTP spans.
 *
 * With host.json `"telemetryMode": "OpenTelemetry"` (Flex Consumption: Learn, azure-functions/opentelemetry-howto),
 * the Functions host expects the worker to send its own logs and to continue the host's trace: that is
 * @azure/functions-opentelemetry-instrumentation. Its ESM form patches the module object it is given, which is the
 * one way to reach the service's bundled @azure/functions, which start.ts hands over (Azure/azure-functions-nodejs-opentelemetry
 * src/instrumentationESM.ts, `registerAzFunc`).
 */
export function startAzureMonitor(
  functions: typeof azureFunctions,
  connectionString: string,
  managedIdentityClientId?: string,
): StartedTelemetry {
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString,
      ...(managedIdentityClientId
        ? { credential: new ManagedIdentityCredential({ clientId: managedIdentityClientId }) }
        : {}),
    },
    // Every trace kept (the distro's default keeps 5 a second): the request log lines, which the KQL counters of
    // docs/observability.md add up, go with their trace.
    samplingRatio: 1,
    tracesPerSecond: 0,
    spanProcessors: [new UserIdRedactingProcessor()],
    instrumentationOptions: {
      http: { enabled: false },
      azureSdk: { enabled: false },
      mongoDb: { enabled: false },
      mySql: { enabled: false },
      postgreSql: { enabled: false },
      redis: { enabled: false },
      redis4: { enabled: false },
      bunyan: { enabled: false },
      winston: { enabled: false },
    },
  });
  new functionsInstrumentation.AzureFunctionsInstrumentationESM().registerAzFunc(functions);
  return { shutdown: shutdownAzureMonitor, azureSdkInstrumenter: traceClients() };
}
