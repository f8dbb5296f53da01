import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/HTTP JSON carries it (the fields the tests read; the rest stays in `raw`). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client (OTLP's SpanKind numbers). */
  kind: number;
  attributes: Record<string, unknown>;
  durationMs: number;
  /** The span exactly as received, for a scan of every field (events, status, resource...). */
  raw: string;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT`: the value of OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Every request body received (traces and metrics), as text. */
  bodies: string[];
  /** Paths posted to (`/v1/traces`, `/v1/metrics`), with the content types they came with. */
  posts: { path: string; contentType: string }[];
  /** Resolves once `predicate` holds for the spans received, checking on each export. */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}

function attributeValue(value: OtlpValue | undefined): unknown {
  if (!value) return undefined;
  return value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: OtlpValue }[];
}

function spansOf(body: string): ReceivedSpan[] {
  const { resourceSpans = [] } = JSON.parse(body) as {
    resourceSpans?: { resource?: unknown; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
  };
  return resourceSpans.flatMap(({ resource, scopeSpans = [] }) =>
    scopeSpans.flatMap(({ spans = [] }) =>
      spans.map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
        name: span.name,
        kind: span.kind,
        durationMs: Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1e6,
        attributes: Object.fromEntries(
          (span.attributes ?? []).map(({ key, value }) => [key, attributeValue(value)]),
        ),
        raw: JSON.stringify({ span, resource }),
      })),
    ),
  );
}

async function textOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A minimal OTLP/HTTP JSON collector on loopback: it accepts what the service's exporters post (traces and metrics)
 * and keeps it for the caller to read (the tests, the benchmark, `npm run otel-collector`). It understands JSON only,
 * so a service that exported protobuf would fail here. `port` 0 (default) picks a free one.
 */
export async function startOtlpReceiver(
  options: { port?: number; onSpans?: (spans: ReceivedSpan[]) => void } = {},
): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const posts: OtlpReceiver['posts'] = [];
  const waiters = new Set<() => void>();
  const server = createServer(async (request, response) => {
    const body = await textOf(request);
    const path = request.url ?? '';
    posts.push({ path, contentType: request.headers['content-type'] ?? '' });
    bodies.push(body);
    if (path === '/v1/traces') {
      const received = spansOf(body);
      spans.push(...received);
      options.onSpans?.(received);
    }
    response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    for (const wake of waiters) wake();
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    posts,
    waitFor(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate(spans)) return;
          waiters.delete(check);
          resolve(spans);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
