import type { Instrumenter } from '@azure/core-tracing';
import { metrics } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { traceClients } from './client-spans.js';
import { UserIdRedactingProcessor } from './redact-urls.js';

const SERVICE_NAME = 'acs-trusted-token-service';

export interface StartedTelemetry {
  /** Exports what is pending and stops: called when the process stops, so the last requests' spans are not lost. */
  shutdown(): Promise<void>;
  /** For the Azure SDK clients' @azure/core-tracing (client-spans.ts). */
  azureSdkInstrumenter: Instrumenter;
}

/**
 * Standard OpenTelemetry, configured by the standard OTEL_* variables, which the SDK reads itself: the endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT, or the _TRACES_/_METRICS_ ones), headers, timeout, the sampler
 * (OTEL_TRACES_SAMPLER[_ARG]), the batch and metric intervals, and the resource (OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES). The exporters speak OTLP/HTTP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json), the one
 * protocol a collector understands without protobuf or gRPC code in the bundle.
 */
export function startOtlp(
  kind: 'otlp' | 'console',
  settings: Record<string, string | undefined>,
): StartedTelemetry {
  const resource = resourceFromAttributes({ 'service.name': SERVICE_NAME }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const exporter: SpanExporter =
    kind === 'console'
      ? new ConsoleSpanExporter()
      : new OTLPTraceExporter(endpointOption(settings, 'TRACES', 'v1/traces'));
  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors: [new UserIdRedactingProcessor(), new BatchSpanProcessor(exporter)],
  });
  // Registers the W3C trace context propagator and the async-hooks context manager too.
  tracerProvider.register();
  const meterProvider =
    kind === 'otlp'
      ? new MeterProvider({
          resource,
          readers: [
            new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter(endpointOption(settings, 'METRICS', 'v1/metrics')),
            }),
          ],
        })
      : undefined;
  if (meterProvider) metrics.setGlobalMeterProvider(meterProvider);
  return {
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider?.shutdown()]);
    },
    azureSdkInstrumenter: traceClients(),
  };
}

/**
 * The exporters read the endpoint from the process environment themselves. The settings can hold it where the
 * environment does not: `npm start` reads local.settings.json, which never reaches process.env. Then it is given
 * to them as the URL the environment variable would have made.
 */
function endpointOption(
  settings: Record<string, string | undefined>,
  signal: 'TRACES' | 'METRICS',
  path: string,
): { url?: string } {
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (
    process.env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`] ||
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT ||
    !endpoint
  )
    return {};
  return { url: new URL(path, endpoint.endsWith('/') ? endpoint : `${endpoint}/`).href };
}
