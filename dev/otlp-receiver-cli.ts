import { type ReceivedSpan, SPAN_KIND, startOtlpReceiver } from './otlp-receiver.js';

/**
 * `npm run otel-collector`: a local OpenTelemetry collector in one command, with nothing to install. It receives
 * OTLP/HTTP JSON on http://127.0.0.1:4318 (OTLP_PORT to change it) and prints one line per span as it arrives. Point
 * the service at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (docs/observability.md).
 */
const KIND_NAMES: Record<number, string> = {
  [SPAN_KIND.internal]: 'internal',
  [SPAN_KIND.server]: 'server',
  [SPAN_KIND.client]: 'client',
};

/** What a span says about itself in one line: the request's route and status, a dependency's address. */
function summary(span: ReceivedSpan): string {
  const { attributes } = span;
  const facts = [
    attributes['http.route'],
    attributes['http.response.status_code'] ?? attributes['http.status_code'],
    attributes['app.outcome'],
    attributes['az.namespace'],
    attributes['http.url'] ?? attributes['url.full'],
  ].filter((fact) => fact !== undefined);
  return facts.join(' ');
}

const port = Number(process.env.OTLP_PORT ?? 4318);
const receiver = await startOtlpReceiver({
  port,
  onSpans(spans) {
    for (const span of spans) {
      const kind = KIND_NAMES[span.kind] ?? 'span';
      console.log(
        `${span.traceId} ${span.spanId} ${(span.parentSpanId ?? '').padEnd(16)} ${kind.padEnd(8)} ` +
          `${span.durationMs.toFixed(1).padStart(8)} ms  ${span.name}  ${summary(span)}`,
      );
    }
  },
});
console.log(
  `OTLP/HTTP JSON collector on ${receiver.endpoint}: set OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.endpoint}`,
);
console.log(
  'trace id                         span id          parent span      kind     duration     name  facts',
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    receiver.close().finally(() => process.exit(0));
  });
}
