import { afterAll, describe, expect, it } from 'vitest';
import { startTracedProcess, type TracedProcess } from '../support/traced-process.js';

let collector: TracedProcess | undefined;
afterAll(async () => {
  await collector?.stop();
});

/** `npm run otel-collector`, which docs/observability.md gives as the one-command way to see the spans locally. */
describe('npm run otel-collector', () => {
  it('receives OTLP/HTTP JSON and prints one line per span', async () => {
    collector = startTracedProcess('npm', ['run', 'otel-collector'], { OTLP_PORT: '0' });
    const endpoint = /collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(
      await collector.line(/collector on http/),
    )![1]!;
    const span = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      name: 'POST issueToken',
      kind: 2,
      startTimeUnixNano: '1000000000',
      endTimeUnixNano: '1042000000',
      attributes: [{ key: 'http.route', value: { stringValue: 'issueToken' } }],
    };
    const response = await fetch(`${endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }),
    });
    expect(response.status).toBe(200);
    expect(await collector.line(/POST issueToken/)).toMatch(
      /^0af7651916cd43dd8448eb211c80319c b7ad6b7169203331 +server +42\.0 ms {2}POST issueToken {2}issueToken$/,
    );
  });
});
