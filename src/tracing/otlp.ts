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
export function startOtlp(kind: 'otlp' | 'console'): StartedTelemetry {
  const resource = resourceFromAttributes({ 'service.name': SERVICE_NAME }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const exporter: SpanExporter = kind === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter();
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
          readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() })],
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
