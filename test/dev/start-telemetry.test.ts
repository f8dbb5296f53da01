import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  startOtlpReceiver,
} from '../../dev/otlp-receiver.js';
import { type RunningAzurite, startAzurite } from '../support/azurite.js';
import { LogCapture } from '../support/log-capture.js';
import { startTracedProcess, type TracedProcess } from '../support/traced-process.js';

/**
 * The issue's "done when": `npm start` with an OTLP endpoint set exports a trace that continues the caller's
 * `traceparent`, with a server span and ACS and Table client spans, and no secret. npm start runs the ACS emulator
 * and the dev identity provider itself; the identity table is on Azurite.
 */
let azurite: RunningAzurite;
let receiver: OtlpReceiver;
let npmStart: TracedProcess;

beforeAll(async () => {
  [azurite, receiver] = await Promise.all([startAzurite(), startOtlpReceiver()]);
});

afterAll(async () => {
  await npmStart?.stop();
  await Promise.all([receiver?.close(), azurite?.stop()]);
});

describe('npm start with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it("exports the caller's trace: the server span, then ACS and Table client spans, without a secret", async () => {
    npmStart = startTracedProcess('npm', ['start'], {
      PORT: '0',
      DEMO_PORT: '0',
      DEV_ISSUER_PORT: '0',
      IDENTITY_STORE: 'table',
      IDENTITY_STORE_CONNECTION_STRING: azurite.connectionString,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // The standard batch delay (5 s) shortened, so the spans leave soon after the request.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    const mint =
      /TOKEN=\$\(curl -s -X POST (\S+\/token) -H 'Content-Type: application\/json' -d '(\{[^']+\})'/.exec(
        await npmStart.line(/^\s*TOKEN=\$\(curl /),
      );
    const api = /listening on (http:\/\/localhost:\d+\/api)/
      .exec(await npmStart.line(/listening on http:\/\/localhost:\d+\/api/))![1]!
      .replace('localhost', '127.0.0.1');
    const minted = await fetch(mint![1]!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: mint![2],
    });
    const caller = ((await minted.json()) as { access_token: string }).access_token;

    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const response = await fetch(`${api}/token`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${caller}`,
        'Content-Type': 'application/json',
        traceparent: `00-${traceId}-${callerSpanId}-01`,
      },
      body: '{"scopes":["chat"]}',
    });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };

    // The batches go out on the exporter's schedule, and the server span ends last, so it may come in a later batch
    // than its children: the trace is complete once its ACS and Table spans and its server span arrived.
    const inTrace = (spans: ReceivedSpan[]) => spans.filter((span) => span.traceId === traceId);
    const namespacesOf = (spans: ReceivedSpan[]) =>
      new Set(inTrace(spans).map((span) => span.attributes['az.namespace']));
    await receiver.waitFor(
      (spans) =>
        namespacesOf(spans).has('Microsoft.Communication') &&
        namespacesOf(spans).has('Microsoft.Data.Tables') &&
        inTrace(spans).some((span) => span.kind === SPAN_KIND.server),
    );
    const trace = receiver.spans.filter((span) => span.traceId === traceId);
    const server = trace.find((span) => span.kind === SPAN_KIND.server);
    expect(server).toMatchObject({
      parentSpanId: callerSpanId,
      name: 'POST issueToken',
      attributes: { 'http.route': 'issueToken', 'http.response.status_code': 200, 'app.outcome': 'ok' },
    });
    const clients = trace.filter((span) => span.kind === SPAN_KIND.client);
    expect(clients.some((span) => span.attributes['az.namespace'] === 'Microsoft.Communication')).toBe(true);
    expect(clients.some((span) => span.attributes['az.namespace'] === 'Microsoft.Data.Tables')).toBe(true);
    // Each client span hangs under the server span (directly or through the SDK's operation span).
    const byId = new Map(trace.map((span) => [span.spanId, span]));
    for (const client of clients) {
      let ancestor = client;
      while (ancestor.parentSpanId && ancestor.parentSpanId !== server!.spanId) {
        ancestor = byId.get(ancestor.parentSpanId)!;
        expect(ancestor, `${client.name} is in the request's tree`).toBeDefined();
      }
      expect(ancestor.parentSpanId).toBe(server!.spanId);
    }

    const capture = new LogCapture();
    capture.secret('caller JWT', caller);
    capture.secret('ACS token', token);
    capture.secret('storage connection string', azurite.connectionString);
    for (const body of receiver.bodies) capture.hostLog('otlp', body);
    expect(capture.scan()).toEqual([]);
  });
});
