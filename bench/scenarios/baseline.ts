import {
  type BenchContext,
  measure,
  prewarm,
  type ScenarioResult,
  startServer,
  TOKEN_REQUEST_BODY,
  WARM_UP_REQUESTS,
} from './context.js';

/** a: the tutorial's function, anonymous, two ACS calls and a new identity per request. */
export async function runBaseline(ctx: BenchContext, latencyMs: number): Promise<ScenarioResult> {
  const server = await startServer(ctx, 'baseline', { connectionString: ctx.emulator.connectionString });
  try {
    await prewarm(
      server.url,
      Array.from({ length: WARM_UP_REQUESTS }, () => undefined),
    );
    const measured = await measure(
      ctx,
      server,
      {
        url: `${server.url}/api/token`,
        method: 'POST',
        body: TOKEN_REQUEST_BODY,
        connections: ctx.connections,
        durationSeconds: ctx.durationSeconds,
        callers: { kind: 'none' },
      },
      latencyMs,
    );
    return { id: 'a', latencyMs, ...measured };
  } finally {
    await server.stop();
  }
}
