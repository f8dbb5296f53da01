import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseCliFlags } from '../dev/cli-flags.js';
import { devUserIds, startDevIssuer } from '../dev/dev-issuer.js';
import { startAzurite } from '../test/support/azurite.js';
import { buildEntries, type ColdStartFigures, measureColdStart } from './cold-start.js';
import { EmulatorClient } from './lib/emulator-client.js';
import { buildChildren, REPO_ROOT, startChild } from './lib/processes.js';
import { figure, formatTable, mebibytes, passMark, withRatio } from './lib/report.js';
import { runBaseline } from './scenarios/baseline.js';
import {
  type BenchContext,
  SCENARIO_TITLES,
  type ScenarioId,
  type ScenarioResult,
  serverEnvironment,
  serviceSettings,
  userNames,
} from './scenarios/context.js';
import { type CountCheck, runCountChecks } from './scenarios/count-check.js';
import { runKnownUsers } from './scenarios/known-users.js';
import { runNewUsers } from './scenarios/new-users.js';
import { runScaleOut, type ScaleOutFigures } from './scenarios/scale-out.js';
import { scaleOutTables } from './scenarios/scale-out-tables.js';
import { measureTelemetryCost, type TelemetryCost, telemetryCostTable } from './scenarios/telemetry.js';

const usage = `Usage: npm run bench -- [options]

Loads the tutorial's function (a) and our service (b known users, c new users, d known users with token reuse)
over HTTP with autocannon at each ACS latency, counts ACS calls at the emulator, checks the "1,000 requests from
10 users" counts, measures cold starts of the bundled and unbundled entry, and runs three instances of the service
over one Azurite table (scale), and what OpenTelemetry costs: CPU per request and cold start, off and on (otel).
It only reports: it never fails.

Options:
  --duration S          seconds per load scenario (default 8)
  --connections N       concurrent connections (default 10)
  --users N             known users in b and d (default 100)
  --max-new-users N     most requests (fresh users) in c (default 3000)
  --latencies LIST      ACS latencies in ms (default 0,100)
  --only LIST           parts to run, of a,b,c,d,count,cold,scale,otel (default all)
  --cold-start-runs N   fresh processes per cold-start variant (default 5)
  --store memory|table  the service's identity store in a-d, count and cold (table: Azurite, started here;
                        default memory); scale always runs over Azurite
  --scale-users N       new users per burst in scale (default 50)
  --scale-revocations N users revoked, then deleted, in scale (default 30)
  --scale-known-users N known users asking round-robin in scale (default 100)
  --scale-requests N    their requests, with shared reuse and with reuse per instance (default 1000)
  --scale-acs-latency MS  ACS latency while they ask (default 100)
  --json FILE           also write every figure as JSON
  --cpu-prof DIR        write a V8 CPU profile of each server under test into DIR (slows them down)
  -h, --help            show this help`;

const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const parts = ['a', 'b', 'c', 'd', 'count', 'cold', 'scale', 'otel'] as const;

const flagsSchema = z.object({
  duration: count(1, 3600).default(8),
  connections: count(1, 1000).default(10),
  users: count(1, 100_000).default(100),
  'max-new-users': count(10, 100_000).default(3000),
  latencies: z
    .string()
    .transform((value) => value.split(',').map((item) => item.trim()))
    .pipe(z.array(count(0, 10_000)).min(1))
    .default([0, 100]),
  only: z
    .string()
    .transform((value) => value.split(',').map((item) => item.trim()))
    .pipe(z.array(z.enum(parts)).min(1))
    .default([...parts]),
  'cold-start-runs': count(1, 100).default(5),
  store: z.enum(['memory', 'table']).default('memory'),
  'scale-users': count(1, 10_000).default(50),
  'scale-revocations': count(1, 10_000).default(30),
  'scale-known-users': count(1, 100_000).default(100),
  'scale-requests': count(1, 1_000_000).default(1000),
  'scale-acs-latency': count(0, 10_000).default(100),
  json: z.string().min(1).optional(),
  'cpu-prof': z.string().min(1).optional(),
  help: z.boolean().default(false),
});
type Flags = z.infer<typeof flagsSchema>;

const flagOptions = {
  duration: { type: 'string' },
  connections: { type: 'string' },
  users: { type: 'string' },
  'max-new-users': { type: 'string' },
  latencies: { type: 'string' },
  only: { type: 'string' },
  'cold-start-runs': { type: 'string' },
  store: { type: 'string' },
  'scale-users': { type: 'string' },
  'scale-revocations': { type: 'string' },
  'scale-known-users': { type: 'string' },
  'scale-requests': { type: 'string' },
  'scale-acs-latency': { type: 'string' },
  json: { type: 'string' },
  'cpu-prof': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

/** c's request count: about as many as known users manage in one duration (c does no less work per request). */
function newUserRequests(flags: Flags, knownUsers: ScenarioResult | undefined): number {
  const estimate = knownUsers ? Math.round(knownUsers.load.requestsPerSecond * flags.duration) : 1000;
  return Math.min(flags['max-new-users'], Math.max(100, estimate));
}

const SINGLE_CONNECTION_SECONDS = 4;

/** The scale part's SIGKILL window: new users on the instance killed, and the ACS latency that keeps creates in flight. */
const KILL_USERS = 10;
const KILL_ACS_LATENCY_MS = 1000;

async function runLoadScenarios(ctx: BenchContext, flags: Flags): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const wanted = (id: ScenarioId) => flags.only.includes(id);
  for (const latencyMs of flags.latencies) {
    await ctx.acs.setLatency(latencyMs);
    let knownUsers: ScenarioResult | undefined;
    for (const id of ['a', 'b', 'c', 'd'] as const) {
      if (!wanted(id)) continue;
      progress(`${SCENARIO_TITLES[id]} at ACS latency ${latencyMs} ms`);
      const result =
        id === 'a'
          ? await runBaseline(ctx, latencyMs)
          : id === 'b'
            ? await runKnownUsers(ctx, latencyMs, false)
            : id === 'c'
              ? await runNewUsers(ctx, latencyMs, newUserRequests(flags, knownUsers))
              : await runKnownUsers(ctx, latencyMs, true);
      if (id === 'b') knownUsers = result;
      results.push(result);
    }
    // The same scenarios from one connection: a request's own latency, with no other request to queue behind.
    const single = {
      ...ctx,
      connections: 1,
      durationSeconds: Math.min(ctx.durationSeconds, SINGLE_CONNECTION_SECONDS),
    };
    for (const id of ['a', 'b', 'd'] as const) {
      if (!wanted(id) || ctx.connections === 1) continue;
      progress(`${SCENARIO_TITLES[id]} at ACS latency ${latencyMs} ms, one connection`);
      results.push(
        id === 'a'
          ? await runBaseline(single, latencyMs)
          : await runKnownUsers(single, latencyMs, id === 'd'),
      );
    }
  }
  await ctx.acs.setLatency(0);
  return results;
}

function scenarioTables(results: readonly ScenarioResult[]): string {
  const groups = [...new Set(results.map((result) => `${result.latencyMs}/${result.connections}`))];
  return groups
    .map((group) => {
      const rows = results.filter((result) => `${result.latencyMs}/${result.connections}` === group);
      const { latencyMs, connections } = rows[0]!;
      const base = rows.find((result) => result.id === 'a');
      const per1k = (result: ScenarioResult, value: number) =>
        result.load.sent === 0 ? Number.NaN : (value / result.load.sent) * 1000;
      const table = formatTable(
        [
          'scenario',
          'req/s',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'ACS calls/1k req',
          'identities/1k req',
          'peak RSS MiB',
          'server CPU ms/req',
          'ACS CPU ms/req',
          'failed',
        ],
        rows.map((result) => {
          const ratio = result.id !== 'a' && base;
          return [
            SCENARIO_TITLES[result.id],
            withRatio(result.load.requestsPerSecond, ratio ? base.load.requestsPerSecond : undefined),
            withRatio(result.load.p50, ratio ? base.load.p50 : undefined, 1),
            withRatio(result.load.p95, ratio ? base.load.p95 : undefined, 1),
            withRatio(result.load.p99, ratio ? base.load.p99 : undefined, 1),
            withRatio(per1k(result, result.usage.calls), ratio ? per1k(base, base.usage.calls) : undefined),
            withRatio(
              per1k(result, result.usage.identitiesCreated),
              ratio ? per1k(base, base.usage.identitiesCreated) : undefined,
            ),
            withRatio(mebibytes(result.peakRssBytes), ratio ? mebibytes(base.peakRssBytes) : undefined),
            withRatio(result.serverCpuMsPerRequest, ratio ? base.serverCpuMsPerRequest : undefined, 2),
            withRatio(result.acsCpuMsPerRequest, ratio ? base.acsCpuMsPerRequest : undefined, 2),
            String(result.load.failed),
          ];
        }),
      );
      const requests = rows.map((result) => `${result.id} ${result.load.sent}`).join(', ');
      const load =
        connections === 1
          ? "1 connection: a request's own latency, nothing to queue behind"
          : `${connections} connections`;
      return `ACS latency ${latencyMs} ms, ${load} (ratios to a in parentheses; requests sent: ${requests})\n${table}`;
    })
    .join('\n\n');
}

function countTable(checks: readonly CountCheck[]): string {
  return `1,000 requests from 10 users (counted at the emulator)\n${formatTable(
    ['subject', 'answered', 'ACS calls', 'identities', 'target', 'result'],
    checks.map((check) => [
      check.label,
      String(check.succeeded),
      String(check.usage.calls),
      String(check.usage.identitiesCreated),
      check.expected,
      passMark(check.pass),
    ]),
  )}`;
}

function coldStartTable(figures: readonly ColdStartFigures[], runs: number): string {
  const bundled = figures.find((entry) => entry.variant === 'bundled');
  const unbundled = figures.find((entry) => entry.variant === 'unbundled');
  return `Cold start (median of ${runs} fresh processes each; ratios to unbundled)\n${formatTable(
    ['entry', 'load ms', 'first request ms', 'process start to first answer ms'],
    [bundled, unbundled]
      .filter((entry) => entry !== undefined)
      .map((entry) => {
        const ratio = entry.variant === 'bundled' ? unbundled : undefined;
        return [
          entry.variant === 'bundled'
            ? 'bundled (one CommonJS file)'
            : 'unbundled (ESM files + node_modules)',
          withRatio(entry.loadMs, ratio?.loadMs, 1),
          withRatio(entry.firstRequestMs, ratio?.firstRequestMs, 1),
          withRatio(entry.sinceProcessStartMs, ratio?.sinceProcessStartMs, 1),
        ];
      }),
  )}`;
}

function targetsTable(
  results: readonly ScenarioResult[],
  checks: readonly CountCheck[],
  cold: readonly ColdStartFigures[],
) {
  const loaded = Math.max(...results.map((result) => result.connections));
  const find = (id: ScenarioId, latencyMs: number, connections = loaded) =>
    results.find(
      (result) => result.id === id && result.latencyMs === latencyMs && result.connections === connections,
    );
  const ratio = (
    id: ScenarioId,
    latencyMs: number,
    pick: (result: ScenarioResult) => number,
    connections = loaded,
  ) => {
    const subject = find(id, latencyMs, connections);
    const base = find('a', latencyMs, connections);
    return subject && base ? pick(subject) / pick(base) : undefined;
  };
  const rows: string[][] = [];
  const add = (
    target: string,
    measured: number | undefined,
    pass: (value: number) => boolean,
    unit = 'x',
  ) => {
    if (measured === undefined || !Number.isFinite(measured)) return;
    rows.push([target, `${figure(measured, 2)}${unit}`, passMark(pass(measured))]);
  };
  const rps = (result: ScenarioResult) => result.load.requestsPerSecond;
  const p50 = (result: ScenarioResult) => result.load.p50;
  add('known users, latency 0, reuse on: req/s >= 5x baseline', ratio('d', 0, rps), (value) => value >= 5);
  add(
    'known users, latency 0, reuse off: req/s >= 1.5x baseline',
    ratio('b', 0, rps),
    (value) => value >= 1.5,
  );
  for (const connections of [...new Set([loaded, 1])]) {
    const load = `${connections} connection${connections === 1 ? '' : 's'}`;
    add(
      `latency 100, ${load}: known users p50 <= 0.55x baseline`,
      ratio('b', 100, p50, connections),
      (value) => value <= 0.55,
    );
    add(
      `latency 100, ${load}: with reuse, p50 < 10 ms`,
      find('d', 100, connections)?.load.p50,
      (value) => value < 10,
      ' ms',
    );
  }
  for (const check of checks)
    rows.push([
      `1,000 requests from 10 users: ${check.label}`,
      `${check.usage.calls} calls, ${check.usage.identitiesCreated} identities`,
      passMark(check.pass),
    ]);
  const bundled = cold.find((entry) => entry.variant === 'bundled');
  const unbundled = cold.find((entry) => entry.variant === 'unbundled');
  if (bundled && unbundled) {
    add(
      'bundled entry loads in <= 0.5x the unbundled time',
      bundled.loadMs / unbundled.loadMs,
      (value) => value <= 0.5,
    );
  }
  // The targets compare with the baseline (a) or need the count check or cold start: none may have run.
  if (rows.length === 0) return 'Targets (issue 6): none measured in this run (they need a, count or cold).';
  return `Targets (issue 6; report only)\n${formatTable(['target', 'measured', 'result'], rows)}`;
}

/** The machine the figures come from; the load average shows how much else was running. */
function machine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
  return `${cpus.length} CPUs (${cpus[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, load average ${load}`;
}

async function main() {
  const flags = parseCliFlags(process.argv.slice(2), flagOptions, flagsSchema, usage);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    progress('building the child programs');
    await buildChildren();
    const emulator = await startChild('emulator', { tlsDir: path.join(REPO_ROOT, '.artifacts/bench/tls') });
    cleanup.push(() => emulator.stop());
    const issuer = await startDevIssuer();
    cleanup.push(() => issuer.close());
    let azuriteConnectionString: string | undefined;
    if (flags.store === 'table' || flags.only.includes('scale')) {
      progress('starting Azurite');
      const azurite = await startAzurite();
      cleanup.push(() => azurite.stop());
      azuriteConnectionString = azurite.connectionString;
    }
    const tableStorageConnectionString = flags.store === 'table' ? azuriteConnectionString : undefined;
    const emulatorInfo = {
      connectionString: emulator.details.connectionString ?? '',
      caCertPath: emulator.details.caCertPath ?? '',
    };
    const ctx: BenchContext = {
      durationSeconds: flags.duration,
      connections: flags.connections,
      users: flags.users,
      maxNewUsers: flags['max-new-users'],
      emulator: emulatorInfo,
      emulatorProcess: emulator,
      acs: new EmulatorClient(emulator.url, emulatorInfo.caCertPath),
      issuer,
      ...(tableStorageConnectionString ? { tableStorageConnectionString } : {}),
      ...(flags['cpu-prof'] ? { cpuProfileDir: path.resolve(flags['cpu-prof']) } : {}),
    };

    // Each section is printed as soon as it is measured, so a later failure loses nothing already measured.
    const print = (section: string) => process.stdout.write(`\n${section}\n`);
    const machineAtStart = machine();
    print(`Machine: ${machineAtStart}`);
    const results = await runLoadScenarios(ctx, flags);
    if (results.length > 0) print(scenarioTables(results));
    let checks: CountCheck[] = [];
    if (flags.only.includes('count')) {
      progress('1,000 requests from 10 users');
      checks = await runCountChecks(ctx);
      print(countTable(checks));
    }
    let cold: ColdStartFigures[] = [];
    if (flags.only.includes('cold')) {
      progress('building the bundled and unbundled entries, then cold starts');
      await buildEntries();
      const names = userNames('cold', flags['cold-start-runs'] * 2);
      cold = await measureColdStart({
        runs: flags['cold-start-runs'],
        env: { ...serverEnvironment(ctx), ...serviceSettings(ctx, true) },
        authorizationFor: (run) => issuer.mint({ ...devUserIds(names[run]!), name: names[run]! }),
      });
      print(coldStartTable(cold, flags['cold-start-runs']));
    }
    let scale: ScaleOutFigures | undefined;
    if (flags.only.includes('scale') && azuriteConnectionString) {
      scale = await runScaleOut(
        { ...ctx, tableStorageConnectionString: azuriteConnectionString },
        {
          newUsers: flags['scale-users'],
          revocations: flags['scale-revocations'],
          knownUsers: flags['scale-known-users'],
          knownRequests: flags['scale-requests'],
          connections: flags.connections,
          reuseAcsLatencyMs: flags['scale-acs-latency'],
          killUsers: KILL_USERS,
          killAcsLatencyMs: KILL_ACS_LATENCY_MS,
        },
        progress,
      );
      print(scaleOutTables(scale));
    }
    let telemetry: TelemetryCost | undefined;
    if (flags.only.includes('otel')) {
      progress('telemetry off and on: load, then cold starts');
      const names = userNames('otel-cold', flags['cold-start-runs'] * 2);
      telemetry = await measureTelemetryCost(ctx, flags['cold-start-runs'], (run) =>
        issuer.mint({ ...devUserIds(names[run]!), name: names[run]! }),
      );
      print(telemetryCostTable(telemetry, flags['cold-start-runs']));
    }
    if (results.length > 0 || checks.length > 0 || cold.length > 0)
      print(targetsTable(results, checks, cold));
    const machineAtEnd = machine();
    print(`Machine at the end: ${machineAtEnd}`);
    if (flags.json) {
      const figures = {
        machine: { atStart: machineAtStart, atEnd: machineAtEnd },
        flags,
        results,
        checks,
        cold,
        ...(scale ? { scale } : {}),
        ...(telemetry ? { telemetry } : {}),
      };
      await writeFile(flags.json, `${JSON.stringify(figures, null, 2)}\n`);
      progress(`figures written to ${flags.json}`);
    }
  } finally {
    for (const close of cleanup.reverse()) await close().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
