import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import {
  type Context,
  context as contextApi,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { outcomeOf } from '../telemetry.js';
import { telemetryOn } from './state.js';

const INSTRUMENTATION = 'acs-trusted-token-service';

/** `traceparent`/`tracestate` as W3C Trace Context defines them; the only fields read from the caller. */
const traceHeaders = {
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
  get: (carrier: Record<string, string>, key: string) => carrier[key],
};

/**
 * The trace the request belongs to. Under the Functions host, the invocation's trace context: the host continued
 * the caller's `traceparent` and recorded the request itself (what @azure/functions-opentelemetry-instrumentation
 * binds in its preInvocation hook, Azure/azure-functions-nodejs-opentelemetry src/instrumentationESM.ts). Without
 * a host (the local host, `npm start`), the caller's own `traceparent` header.
 */
function parentOf(request: HttpRequest, context: InvocationContext): { parent: Context; fromHost: boolean } {
  const host = context.traceContext?.traceParent;
  const carrier: Record<string, string> = {};
  const traceparent = host ?? request.headers.get('traceparent');
  const tracestate = host ? context.traceContext?.traceState : request.headers.get('tracestate');
  if (traceparent) carrier.traceparent = traceparent;
  if (tracestate) carrier.tracestate = tracestate;
  return { parent: propagation.extract(ROOT_CONTEXT, carrier, traceHeaders), fromHost: host !== undefined };
}

let instruments: ReturnType<typeof createInstruments> | undefined;

function createInstruments() {
  const meter = metrics.getMeter(INSTRUMENTATION);
  return {
    duration: meter.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of the service’s HTTP requests, by route, status and outcome.',
    }),
  };
}

/**
 * Runs one request inside its span: a server span named after the route, with its status and outcome (never the
 * caller, a header or a body), and the request's duration as a metric. The Azure SDK clients and the key-set fetch
 * run inside it, so their client spans are its children. Without telemetry, the handler runs as it is.
 */
export function inRequestSpan(
  request: HttpRequest,
  context: InvocationContext,
  handle: () => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  if (!telemetryOn()) return handle();
  const { parent, fromHost } = parentOf(request, context);
  const route = context.functionName;
  const span = trace.getTracer(INSTRUMENTATION).startSpan(
    `${request.method} ${route}`,
    {
      // Under the host, the host's span is the request: this one is the app's part of it.
      kind: fromHost ? SpanKind.INTERNAL : SpanKind.SERVER,
      attributes: {
        'http.request.method': request.method,
        'http.route': route,
        'faas.invocation_id': context.invocationId,
      },
    },
    parent,
  );
  const started = performance.now();
  return contextApi.with(trace.setSpan(parent, span), async () => {
    try {
      const response = await handle();
      end(span, route, request.method, response, started);
      return response;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      throw error;
    }
  });
}

function end(span: Span, route: string, method: string, response: HttpResponseInit, started: number) {
  const status = response.status ?? 200;
  const outcome = outcomeOf(response);
  span.setAttributes({ 'http.response.status_code': status, 'app.outcome': outcome });
  // OpenTelemetry's HTTP server convention: a 5xx is the server's error, a 4xx the caller's.
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
  instruments ??= createInstruments();
  instruments.duration.record((performance.now() - started) / 1000, {
    'http.request.method': method,
    'http.route': route,
    'http.response.status_code': status,
    'app.outcome': outcome,
  });
}

/** The trace id of the request being handled, for its log lines; undefined without telemetry. */
export function activeTraceId(): string | undefined {
  if (!telemetryOn()) return undefined;
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}
