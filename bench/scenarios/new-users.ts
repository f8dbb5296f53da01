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
  WARM_UP_REQUESTS,
} from './context.js';

/**
 * c: every request is a user's first (a fresh caller token each time: one ACS call creating the identity with its
 * token, and a store write). Caller tokens cost ~1.5 ms each to mint, so a fixed number is minted up front and the
 * scenario runs until each was used once: `requests`, sized by the caller from the known-users rate.
 */
export async function runNewUsers(
  ctx: BenchContext,
  latencyMs: number,
  requests: number,
): Promise<ScenarioResult> {
  const tokens = await mintTokens(ctx.issuer, userNames('c', requests));
  const warmUp = await mintTokens(ctx.issuer, userNames('c-warm-up', WARM_UP_REQUESTS));
  const server = await startServer(ctx, 'service', { env: serviceSettings(ctx, false) });
  try {
    await prewarm(server.url, warmUp);
    const measured = await measure(
      ctx,
      server,
      {
        url: `${server.url}/api/token`,
        method: 'POST',
        body: TOKEN_REQUEST_BODY,
        connections: ctx.connections,
        amount: tokens.length,
        callers: { kind: 'per-request', authorization: (index) => `Bearer ${tokens[index % tokens.length]}` },
      },
      latencyMs,
    );
    return { id: 'c', latencyMs, ...measured };
  } finally {
    await server.stop();
  }
}
