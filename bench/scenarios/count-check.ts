import { type AcsUsage, usageBetween } from '../lib/emulator-client.js';
import { runLoad } from '../lib/load.js';
import {
  type BenchContext,
  mintTokens,
  serviceSettings,
  startServer,
  TOKEN_REQUEST_BODY,
  userNames,
} from './context.js';

export const COUNT_CHECK_REQUESTS = 1000;
export const COUNT_CHECK_USERS = 10;

export interface CountCheck {
  label: string;
  /** Requests answered 200 (of COUNT_CHECK_REQUESTS). */
  succeeded: number;
  usage: AcsUsage;
  expected: string;
  pass: boolean;
}

type Subject = { kind: 'baseline' } | { kind: 'service'; tokenReuse: boolean };

/**
 * 1,000 requests from 10 users, each user on its own connection asking again as soon as it has its answer (the
 * way one app instance per user asks), counted at the emulator.
 */
async function countFor(
  ctx: BenchContext,
  subject: Subject,
): Promise<{ succeeded: number; usage: AcsUsage }> {
  const server =
    subject.kind === 'baseline'
      ? await startServer(ctx, 'baseline', { connectionString: ctx.emulator.connectionString })
      : await startServer(ctx, 'service', { env: serviceSettings(ctx, subject.tokenReuse) });
  try {
    const tokens = await mintTokens(ctx.issuer, userNames('count', COUNT_CHECK_USERS));
    const before = await ctx.acs.stats();
    const load = await runLoad({
      url: `${server.url}/api/token`,
      method: 'POST',
      body: TOKEN_REQUEST_BODY,
      connections: COUNT_CHECK_USERS,
      amount: COUNT_CHECK_REQUESTS,
      callers:
        subject.kind === 'baseline'
          ? { kind: 'none' }
          : {
              kind: 'per-connection',
              authorization: (connection) => `Bearer ${tokens[connection % tokens.length]}`,
            },
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    return { succeeded: load.succeeded, usage: usageBetween(before, await ctx.acs.stats()) };
  } finally {
    await server.stop();
  }
}

/** The count targets; run at ACS latency 0 (counts do not depend on latency). */
export async function runCountChecks(ctx: BenchContext): Promise<CountCheck[]> {
  const complete = (succeeded: number) => succeeded === COUNT_CHECK_REQUESTS;
  const baseline = await countFor(ctx, { kind: 'baseline' });
  const reuseOff = await countFor(ctx, { kind: 'service', tokenReuse: false });
  const reuseOn = await countFor(ctx, { kind: 'service', tokenReuse: true });
  return [
    {
      label: 'a tutorial baseline',
      ...baseline,
      expected: '2000 calls, 1000 identities (reference)',
      pass:
        complete(baseline.succeeded) &&
        baseline.usage.calls === 2000 &&
        baseline.usage.identitiesCreated === 1000,
    },
    {
      label: 'ours, reuse off',
      ...reuseOff,
      expected: '<= 1010 calls, exactly 10 identities',
      pass:
        complete(reuseOff.succeeded) &&
        reuseOff.usage.calls <= 1010 &&
        reuseOff.usage.identitiesCreated === 10,
    },
    {
      label: 'ours, reuse on',
      ...reuseOn,
      expected: '<= 20 calls, exactly 10 identities',
      pass:
        complete(reuseOn.succeeded) && reuseOn.usage.calls <= 20 && reuseOn.usage.identitiesCreated === 10,
    },
  ];
}
