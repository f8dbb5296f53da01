import {
  type BenchContext,
  measure,
  mintTokens,
  prewarm,
  type ScenarioResult,
  serviceSettings,
  startServer,
  TOKEN_REQUEST_BODY,
  userNames,
} from './context.js';

/**
 * b (reuse off) and d (reuse on): users who already have their ACS identity, each request from the next user in
 * turn. Every user asks once before the measurement, so mappings exist (and, with reuse, a token to hand back).
 */
export async function runKnownUsers(
  ctx: BenchContext,
  latencyMs: number,
  tokenReuse: boolean,
): Promise<ScenarioResult> {
  const tokens = await mintTokens(ctx.issuer, userNames(tokenReuse ? 'd' : 'b', ctx.users));
  const server = await startServer(ctx, 'service', { env: serviceSettings(ctx, tokenReuse) });
  try {
    await prewarm(server.url, tokens);
    const measured = await measure(
      ctx,
      server,
      {
        url: `${server.url}/api/token`,
        method: 'POST',
        body: TOKEN_REQUEST_BODY,
        connections: ctx.connections,
        durationSeconds: ctx.durationSeconds,
        callers: { kind: 'per-request', authorization: (index) => `Bearer ${tokens[index % tokens.length]}` },
      },
      latencyMs,
    );
    return { id: tokenReuse ? 'd' : 'b', latencyMs, ...measured };
  } finally {
    await server.stop();
  }
}
