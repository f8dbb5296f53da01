import { randomUUID } from 'node:crypto';
import { type DevIssuer, devUserIds } from '../../dev/dev-issuer.js';
import { type AcsUsage, type EmulatorClient, usageBetween } from '../lib/emulator-client.js';
import { type LoadPlan, type LoadResult, runLoad } from '../lib/load.js';
import type { RunningChild, ServerName } from '../lib/processes.js';
import { startChild } from '../lib/processes.js';

export interface BenchContext {
  /** Seconds each duration-bound scenario runs. */
  durationSeconds: number;
  connections: number;
  /** Known users in scenarios b and d. */
  users: number;
  /** Most fresh users scenario c mints tokens for. */
  maxNewUsers: number;
  emulator: { connectionString: string; caCertPath: string };
  /** The emulator's process, for its CPU time: the share of the work that ACS does. */
  emulatorProcess: RunningChild;
  acs: EmulatorClient;
  issuer: DevIssuer;
  /** Table storage for the service's identity store; the in-memory store when absent. */
  tableStorageConnectionString?: string;
  /** Where each server under test writes a V8 CPU profile (`--cpu-prof`), if anywhere. */
  cpuProfileDir?: string;
  /** Settings added to the service's (the telemetry part: OTEL_EXPORTER_OTLP_ENDPOINT). */
  serviceEnv?: Record<string, string>;
}

export type ScenarioId = 'a' | 'b' | 'c' | 'd';

export const SCENARIO_TITLES: Record<ScenarioId, string> = {
  a: 'a tutorial baseline',
  b: 'b known users, reuse off',
  c: 'c new users',
  d: 'd known users, reuse on',
};

export interface ScenarioResult {
  id: ScenarioId;
  latencyMs: number;
  /** Concurrent connections of the load: 1 shows a request's own latency, more show it under load. */
  connections: number;
  load: LoadResult;
  usage: AcsUsage;
  peakRssBytes: number;
  /** CPU time the server under test spent per request sent during the load (its own cost, ACS excluded). */
  serverCpuMsPerRequest: number;
  /** CPU time the ACS emulator spent per request sent during the load (the work the requests caused at ACS). */
  acsCpuMsPerRequest: number;
}

/** The body every token request sends: the tutorial's one scope, so both sides issue the same token. */
export const TOKEN_REQUEST_BODY = JSON.stringify({ scopes: ['voip'] });

/** Distinct user names per run, so no scenario meets a user another one created. */
export function userNames(label: string, count: number): string[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: count }, (_, index) => `bench-${run}-${label}-${index}`);
}

export async function mintTokens(issuer: DevIssuer, names: readonly string[]): Promise<string[]> {
  const tokens: string[] = [];
  for (const name of names) tokens.push(await issuer.mint({ ...devUserIds(name), name }));
  return tokens;
}

/** The service's app settings for a benchmark server: the emulator, the dev issuer, the chosen store. */
export function serviceSettings(ctx: BenchContext, tokenReuse: boolean): Record<string, string> {
  return {
    COMMUNICATION_SERVICES_CONNECTION_STRING: ctx.emulator.connectionString,
    AUTH_ISSUER: ctx.issuer.issuer,
    AUTH_AUDIENCE: ctx.issuer.audience,
    TOKEN_REUSE: String(tokenReuse),
    // The per-user rate limit (default 60 a minute) still runs, set high enough never to answer a 429 here: the
    // benchmark asks far more often per user than any real client does.
    RATE_LIMIT_PER_MINUTE: '100000',
    ...(ctx.tableStorageConnectionString
      ? {
          IDENTITY_STORE: 'table',
          IDENTITY_STORE_CONNECTION_STRING: ctx.tableStorageConnectionString,
          IDENTITY_TABLE_NAME: `Bench${randomUUID().replaceAll('-', '').slice(0, 20)}`,
        }
      : { IDENTITY_STORE: 'memory' }),
    ...ctx.serviceEnv,
  };
}

/** Environment of every server process: trust the emulator's CA, as a Function App trusts ACS's certificate. */
export function serverEnvironment(ctx: BenchContext): Record<string, string> {
  return { NODE_EXTRA_CA_CERTS: ctx.emulator.caCertPath };
}

export async function startServer(
  ctx: BenchContext,
  name: ServerName,
  config: unknown,
): Promise<RunningChild> {
  const profile = ctx.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfileDir}`] : [];
  return startChild(name, config, serverEnvironment(ctx), profile);
}

const PREWARM_CONCURRENCY = 10;

/**
 * Requests a fresh server answers before it is measured (with callers that play no part in the measurement), so
 * no scenario's figures include its process's first requests (JIT compilation, the first key-set fetch).
 */
export const WARM_UP_REQUESTS = 20;

/** A 503 (Retry-After) is the service's "try again" on a busy machine: pre-warming retries it, as a client does. */
const PREWARM_ATTEMPTS = 5;

/**
 * Sends one token request per caller (a bearer token, or undefined for none), a few at a time; throws unless every
 * answer is 200 (after retrying 503s).
 */
export async function prewarm(url: string, tokens: readonly (string | undefined)[]): Promise<void> {
  let next = 0;
  const ask = async (token: string | undefined) => {
    const response = await fetch(`${url}/api/token`, {
      method: 'POST',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': 'application/json',
      },
      body: TOKEN_REQUEST_BODY,
    });
    await response.arrayBuffer();
    return response.status;
  };
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++];
      let status = await ask(token);
      for (let attempt = 1; status === 503 && attempt < PREWARM_ATTEMPTS; attempt++)
        status = await ask(token);
      if (status !== 200) throw new Error(`pre-warming answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: PREWARM_CONCURRENCY }, worker));
}

/**
 * Loads a running server and reads what it cost: the emulator's counters before and after (after in-flight ACS
 * calls of cut-off requests have landed) and the server's peak memory.
 */
export async function measure(
  ctx: BenchContext,
  server: RunningChild,
  plan: LoadPlan,
  latencyMs: number,
): Promise<Omit<ScenarioResult, 'id' | 'latencyMs'>> {
  const before = await ctx.acs.stats();
  const serverBefore = await server.usage();
  const acsBefore = await ctx.emulatorProcess.usage();
  const load = await runLoad(plan);
  await new Promise((resolve) => setTimeout(resolve, 2 * latencyMs + 250));
  const serverAfter = await server.usage();
  const acsAfter = await ctx.emulatorProcess.usage();
  const after = await ctx.acs.stats();
  const perRequestMs = (micros: number) => micros / 1000 / Math.max(1, load.sent);
  return {
    connections: plan.connections,
    load,
    usage: usageBetween(before, after),
    peakRssBytes: serverAfter.peakRssBytes,
    serverCpuMsPerRequest: perRequestMs(serverAfter.cpuMicros - serverBefore.cpuMicros),
    acsCpuMsPerRequest: perRequestMs(acsAfter.cpuMicros - acsBefore.cpuMicros),
  };
}
