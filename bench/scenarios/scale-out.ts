import { setTimeout as sleep } from 'node:timers/promises';
import type { EmulatorStats } from '../lib/emulator-client.js';
import { percentile } from '../lib/load.js';
import type { RunningChild } from '../lib/processes.js';
import { type BenchContext, mintTokens, userNames } from './context.js';
import {
  callIdentityRoute,
  inBatches,
  requestToken,
  requestTokenRetrying,
  type ServiceCluster,
  startServiceCluster,
  type TokenAnswer,
} from './service-cluster.js';

export interface ScaleOutOptions {
  /** New users in each burst (creates per new user, and orphans under faults). */
  newUsers: number;
  /** Users revoked, then erased, in the dead-token check. */
  revocations: number;
  /** Known users asking round-robin, and how many requests they send, with shared reuse on and off. */
  knownUsers: number;
  knownRequests: number;
  /** Requests in flight at once while known users ask. */
  connections: number;
  /** ACS latency while known users ask: what a request that is not answered by reuse waits for. */
  reuseAcsLatencyMs: number;
  /** New users whose first request is on the instance that is killed, and ACS latency meanwhile. */
  killUsers: number;
  killAcsLatencyMs: number;
}

export interface BurstFigures {
  /** No faults, or the status ACS answers 30% of calls with. */
  faults: 'none' | 503 | 429;
  users: number;
  requests: number;
  /** Requests answered 200 (after the client's retries of 503 answers, under faults). */
  answered: number;
  /** ACS calls the emulator failed on purpose (its deterministic 30% schedule): whether the faults really hit. */
  faultsInjected: number;
  clientRetries: number;
  creates: number;
  deletes: number;
  identitiesAdded: number;
  /** Identities added that no user holds: identities added − users. */
  orphans: number;
  /** Users all of whose answers named one identity. */
  usersWithOneIdentity: number;
}

export interface DeadTokenFigures {
  action: 'revoke' | 'delete';
  users: number;
  /** Revoke or delete calls answered 204. */
  actionsAnswered: number;
  /** Tokens every instance handed out right after the action answered. */
  tokensAfter: number;
  /** Of those: not a 200, or a token the emulator no longer honours (both must be 0). */
  notServed: number;
  inactive: number;
  /** Tokens handed out before the action that the emulator still honours after it (must be 0). */
  earlierStillActive: number;
}

export interface ReuseFigures {
  mode: 'shared' | 'per-instance';
  /** Requests in flight at once: 1 shows a request's own latency, more show it under load. */
  connections: number;
  /** ACS latency meanwhile: what an answer not given by reuse waits for. */
  acsLatencyMs: number;
  users: number;
  requests: number;
  answered: number;
  acsCalls: number;
  acsCallsPer1k: number;
  /** Answers that handed back a token the user had already been given. */
  reusedAnswers: number;
  p50: number;
  p95: number;
  reusedP50: number;
  reusedP95: number;
}

export interface KillFigures {
  users: number;
  acsLatencyMs: number;
  killedAfterMs: number;
  /** Creates ACS had carried out for the killed instance when it died: their answers were still on the way. */
  createsInFlight: number;
  /** Creates whose answer the emulator could not deliver (the caller had gone). */
  createsUndelivered: number;
  /** Identities added that no user holds, once every user was served again: identities added − users. */
  orphans: number;
  /** Users served 200 by the other instances afterwards, and those served the same identity when asked again. */
  servedAfterKill: number;
  sameIdentityAgain: number;
  /** How long each user's next request took (the claim's 3 s lease runs out first), client retries included. */
  nextRequestP50Ms: number;
  nextRequestMaxMs: number;
}

export interface ScaleOutFigures {
  instances: number;
  bursts: BurstFigures[];
  deadTokens: DeadTokenFigures[];
  reuse: ReuseFigures[];
  kill: KillFigures;
}

const INSTANCES = 3;
const USERS_AT_ONCE = 10;
const SETTLE_MS = 500;

const creates = (stats: EmulatorStats) => stats.operations.createIdentity ?? 0;
const deletes = (stats: EmulatorStats) => stats.operations.deleteIdentity ?? 0;
const allCalls = (stats: EmulatorStats) =>
  Object.values(stats.operations).reduce((sum, count) => sum + count, 0);

/**
 * Three service instances over one Table Storage table, one ACS emulator and one issuer (issues 10 and 13): what a
 * new user costs when its first requests race over the instances (with and without ACS failing), whether a revoke
 * or erase holds on every instance at once, what shared token reuse saves, and what an instance killed while it
 * creates identities leaves behind.
 */
export async function runScaleOut(
  ctx: BenchContext,
  options: ScaleOutOptions,
  progress: (message: string) => void,
): Promise<ScaleOutFigures> {
  const shared = await startServiceCluster(ctx, INSTANCES);
  let bursts: BurstFigures[];
  let deadTokens: DeadTokenFigures[];
  let kill: KillFigures;
  const reuse: ReuseFigures[] = [];
  try {
    bursts = [];
    for (const faults of ['none', 503, 429] as const) {
      progress(
        `scale: ${options.newUsers} new users, six first requests each over three instances, faults ${faults}`,
      );
      bursts.push(await measureBurst(ctx, shared.instances, options.newUsers, faults));
    }
    progress(
      `scale: revoke and delete for ${options.revocations} users, tokens from every instance right after`,
    );
    deadTokens = await measureDeadTokens(ctx, shared.instances, options.revocations);
    reuse.push(...(await measureReuseAtEachLoad(ctx, shared.instances, options, 'shared', progress)));
    progress(`scale: SIGKILL of a fourth instance while it creates ${options.killUsers} identities`);
    kill = await measureKill(ctx, shared, options);
  } finally {
    await ctx.acs.setFaults({ latencyMs: 0, failRate: 0 });
    await shared.stop();
  }
  const perInstance = await startServiceCluster(ctx, INSTANCES, { shareReusableTokens: false });
  try {
    reuse.push(
      ...(await measureReuseAtEachLoad(ctx, perInstance.instances, options, 'per-instance', progress)),
    );
  } finally {
    await ctx.acs.setFaults({ latencyMs: 0 });
    await perInstance.stop();
  }
  return { instances: INSTANCES, bursts, deadTokens, reuse, kill };
}

/** Each new user's first six requests at once, two on each instance; under faults the client retries 503s. */
async function measureBurst(
  ctx: BenchContext,
  instances: readonly RunningChild[],
  users: number,
  faults: BurstFigures['faults'],
): Promise<BurstFigures> {
  const callers = await mintTokens(ctx.issuer, userNames(`scale-burst-${faults}`, users));
  const before = await ctx.acs.stats();
  if (faults !== 'none') await ctx.acs.setFaults({ failRate: 0.3, failStatus: faults });
  let answers: (TokenAnswer & { retries: number })[][];
  try {
    answers = await inBatches(callers, USERS_AT_ONCE, (caller) =>
      Promise.all(
        instances.flatMap((instance) =>
          [0, 1].map(() =>
            faults === 'none'
              ? requestToken(instance, caller).then((answer) => ({ ...answer, retries: 0 }))
              : requestTokenRetrying(instance, caller),
          ),
        ),
      ),
    );
  } finally {
    if (faults !== 'none') await ctx.acs.setFaults({ failRate: 0 });
  }
  await sleep(SETTLE_MS);
  const after = await ctx.acs.stats();
  const flat = answers.flat();
  const identitiesAdded = after.identities.active - before.identities.active;
  return {
    faults,
    users,
    requests: flat.length,
    answered: flat.filter((answer) => answer.status === 200).length,
    faultsInjected: (after.rejected.faults ?? 0) - (before.rejected.faults ?? 0),
    clientRetries: flat.reduce((sum, answer) => sum + answer.retries, 0),
    creates: creates(after) - creates(before),
    deletes: deletes(after) - deletes(before),
    identitiesAdded,
    orphans: identitiesAdded - users,
    usersWithOneIdentity: answers.filter(
      (perUser) =>
        perUser.every((answer) => answer.status === 200) &&
        new Set(perUser.map((answer) => answer.communicationUserId)).size === 1,
    ).length,
  };
}

const ACTIONS_AT_ONCE = 5;

/**
 * Per user: a token from A, the same asked of B and C (so every instance has it at hand), the action on B, then at
 * once a token from each of A, B and C, each introspected at the emulator. Revoke first, then delete.
 */
async function measureDeadTokens(
  ctx: BenchContext,
  instances: readonly RunningChild[],
  users: number,
): Promise<DeadTokenFigures[]> {
  const [a, b, c] = instances as [RunningChild, RunningChild, RunningChild];
  const callers = await mintTokens(ctx.issuer, userNames('scale-revoke', users));
  const isActive = async (answer: TokenAnswer) =>
    answer.token !== undefined && (await ctx.acs.introspect(answer.token)).active;

  const perUser = await inBatches(callers, ACTIONS_AT_ONCE, async (caller) => {
    const outcomes: {
      action: DeadTokenFigures['action'];
      status: number;
      afterStatuses: number[];
      afterActive: boolean[];
      earlierActive: boolean[];
    }[] = [];
    let earlier = [await requestToken(a, caller)];
    earlier.push(await requestToken(b, caller), await requestToken(c, caller));
    for (const action of ['revoke', 'delete'] as const) {
      const status =
        action === 'revoke'
          ? await callIdentityRoute(b, 'POST', 'identity/revoke', caller)
          : await callIdentityRoute(b, 'DELETE', 'identity', caller);
      const after = await Promise.all([a, b, c].map((instance) => requestToken(instance, caller)));
      // Introspected before the next action, which would kill these tokens too.
      outcomes.push({
        action,
        status,
        afterStatuses: after.map((answer) => answer.status),
        afterActive: await Promise.all(after.map(isActive)),
        earlierActive: await Promise.all(earlier.map(isActive)),
      });
      earlier = after;
    }
    return outcomes;
  });

  return (['revoke', 'delete'] as const).map((action) => {
    const rows = perUser.flat().filter((row) => row.action === action);
    const after = rows.flatMap((row) =>
      row.afterStatuses.map((status, index) => ({ status, active: row.afterActive[index]! })),
    );
    return {
      action,
      users,
      actionsAnswered: rows.filter((row) => row.status === 204).length,
      tokensAfter: after.length,
      notServed: after.filter((answer) => answer.status !== 200).length,
      inactive: after.filter((answer) => answer.status === 200 && !answer.active).length,
      earlierStillActive: rows.flatMap((row) => row.earlierActive).filter(Boolean).length,
    };
  });
}

/** The known-users measurement at the run's connections, then from one connection (each with fresh users). */
async function measureReuseAtEachLoad(
  ctx: BenchContext,
  instances: readonly RunningChild[],
  options: ScaleOutOptions,
  mode: ReuseFigures['mode'],
  progress: (message: string) => void,
): Promise<ReuseFigures[]> {
  const figures: ReuseFigures[] = [];
  for (const connections of new Set([options.connections, 1])) {
    progress(
      `scale: ${options.knownRequests} known-user requests round-robin, reuse ${mode}, ${connections} connection(s)`,
    );
    figures.push(await measureReuse(ctx, instances, options, mode, connections));
  }
  return figures;
}

/**
 * Known users (each asked once, on instance u mod 3) asking again round-robin: request i goes to instance i mod 3
 * for user ⌊i/3⌋ mod U, so each user meets every instance in turn. An answer is a reused one when it hands back a
 * token the user was already given.
 */
async function measureReuse(
  ctx: BenchContext,
  instances: readonly RunningChild[],
  options: ScaleOutOptions,
  mode: ReuseFigures['mode'],
  connections: number,
): Promise<ReuseFigures> {
  const callers = await mintTokens(
    ctx.issuer,
    userNames(`scale-reuse-${mode}-${connections}`, options.knownUsers),
  );
  const seen = callers.map(() => new Set<string>());
  const warmUp = await inBatches(callers, options.connections, (caller, user) =>
    requestTokenRetrying(instances[user % instances.length]!, caller),
  );
  for (const [user, answer] of warmUp.entries()) if (answer.token) seen[user]!.add(answer.token);
  await ctx.acs.setFaults({ latencyMs: options.reuseAcsLatencyMs });
  const before = await ctx.acs.stats();
  const plan = Array.from({ length: options.knownRequests }, (_, index) => ({
    instance: instances[index % instances.length]!,
    user: Math.floor(index / instances.length) % callers.length,
  }));
  const answers = await inBatches(plan, connections, async ({ instance, user }) => {
    const answer = await requestToken(instance, callers[user]!);
    const reused = answer.token !== undefined && seen[user]!.has(answer.token);
    if (answer.token) seen[user]!.add(answer.token);
    return { ...answer, reused };
  });
  const after = await ctx.acs.stats();
  await ctx.acs.setFaults({ latencyMs: 0 });
  const served = answers.filter((answer) => answer.status === 200);
  const sorted = (list: typeof served) => list.map((answer) => answer.ms).sort((x, y) => x - y);
  const all = sorted(served);
  const reused = sorted(served.filter((answer) => answer.reused));
  const acsCalls = allCalls(after) - allCalls(before);
  return {
    mode,
    connections,
    acsLatencyMs: options.reuseAcsLatencyMs,
    users: callers.length,
    requests: plan.length,
    answered: served.length,
    acsCalls,
    acsCallsPer1k: (acsCalls / plan.length) * 1000,
    reusedAnswers: reused.length,
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    reusedP50: percentile(reused, 50),
    reusedP95: percentile(reused, 95),
  };
}

/**
 * A fourth instance takes new users' first requests while ACS answers slowly, and is killed half way through the
 * ACS latency: the identities are created, their answers lost. The other instances then serve those users.
 */
async function measureKill(
  ctx: BenchContext,
  cluster: ServiceCluster,
  options: ScaleOutOptions,
): Promise<KillFigures> {
  const victim = await cluster.addInstance();
  const [warmUp] = await mintTokens(ctx.issuer, userNames('scale-kill-warm-up', 1));
  await requestToken(victim, warmUp!); // its first request (key set, JIT) is not part of the window
  const callers = await mintTokens(ctx.issuer, userNames('scale-kill', options.killUsers));
  const before = await ctx.acs.stats();
  await ctx.acs.setFaults({ latencyMs: options.killAcsLatencyMs });
  const lost = Promise.all(callers.map((caller) => requestToken(victim, caller)));
  const killedAfterMs = Math.round(options.killAcsLatencyMs / 2);
  await sleep(killedAfterMs);
  await victim.kill('SIGKILL');
  const atKill = await ctx.acs.stats();
  await lost;
  await ctx.acs.setFaults({ latencyMs: 0 });

  const survivors = cluster.instances.filter((instance) => instance !== victim);
  const next = await Promise.all(
    callers.map((caller, index) => requestTokenRetrying(survivors[index % survivors.length]!, caller)),
  );
  const again = await Promise.all(
    callers.map((caller, index) => requestToken(survivors[(index + 1) % survivors.length]!, caller)),
  );
  // Undelivered answers are counted once the emulator's latency has passed.
  await sleep(options.killAcsLatencyMs + SETTLE_MS);
  const after = await ctx.acs.stats();
  const times = next.map((answer) => answer.ms).sort((x, y) => x - y);
  return {
    users: callers.length,
    acsLatencyMs: options.killAcsLatencyMs,
    killedAfterMs,
    createsInFlight: creates(atKill) - creates(before),
    createsUndelivered: (after.undelivered.createIdentity ?? 0) - (before.undelivered.createIdentity ?? 0),
    orphans: after.identities.active - before.identities.active - callers.length,
    servedAfterKill: next.filter((answer) => answer.status === 200).length,
    sameIdentityAgain: next.filter(
      (answer, index) =>
        answer.status === 200 && again[index]!.communicationUserId === answer.communicationUserId,
    ).length,
    nextRequestP50Ms: percentile(times, 50),
    nextRequestMaxMs: times.at(-1) ?? Number.NaN,
  };
}
