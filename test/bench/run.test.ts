import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { ScaleOutFigures } from '../../bench/scenarios/scale-out.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const OUTPUT_DIR = path.join(ROOT, '.artifacts/test-bench');

interface BenchJson {
  results: {
    id: string;
    latencyMs: number;
    connections: number;
    load: { sent: number; succeeded: number; failed: number; requestsPerSecond: number; p50: number };
    usage: { calls: number; identitiesCreated: number };
    peakRssBytes: number;
  }[];
  cold: { variant: string; loadMs: number; samples: { status: number }[] }[];
}

interface ScaleJson {
  scale: ScaleOutFigures;
}

/**
 * The benchmark end to end on a tiny load: it must start everything, load every scenario, count at the emulator,
 * run a cold start, print its tables and stop. Only what the run counted is asserted, never how fast it was.
 */
describe('npm run bench (smoke)', () => {
  const jsonFile = path.join(OUTPUT_DIR, `${randomUUID()}.json`);
  afterAll(async () => {
    await rm(jsonFile, { force: true });
  });

  it('runs a tiny scenario set end to end and prints its tables', async () => {
    await mkdir(OUTPUT_DIR, { recursive: true });
    const { stdout } = await run(
      TSX,
      [
        'bench/run.ts',
        '--duration=1',
        '--connections=2',
        '--users=3',
        '--max-new-users=100',
        '--latencies=0',
        '--only=a,b,c,d,cold',
        '--cold-start-runs=1',
        `--json=${jsonFile}`,
      ],
      { cwd: ROOT, timeout: 100_000 },
    );

    expect(stdout).toContain('ACS latency 0 ms, 2 connections');
    expect(stdout).toContain("ACS latency 0 ms, 1 connection: a request's own latency");
    for (const title of [
      'a tutorial baseline',
      'b known users, reuse off',
      'c new users',
      'd known users, reuse on',
    ]) {
      expect(stdout).toMatch(new RegExp(`^${title}\\s+\\d+`, 'm'));
    }
    expect(stdout).toContain('Cold start (median of 1 fresh processes each');
    expect(stdout).toContain('Targets (issue 6; report only)');

    const figures = JSON.parse(await readFile(jsonFile, 'utf8')) as BenchJson;
    expect(figures.results.map((result) => `${result.id}/${result.connections}`)).toEqual([
      'a/2',
      'b/2',
      'c/2',
      'd/2',
      'a/1',
      'b/1',
      'd/1',
    ]);
    const byId = Object.fromEntries(
      figures.results.filter((result) => result.connections === 2).map((result) => [result.id, result]),
    );
    for (const result of figures.results) {
      expect(result.load.succeeded).toBeGreaterThan(0);
      expect(result.load.failed).toBe(0);
      expect(result.peakRssBytes).toBeGreaterThan(0);
    }
    // The baseline creates an identity for every request; known users create none; reuse makes no ACS call at all.
    expect(byId.a!.usage.identitiesCreated).toBeGreaterThanOrEqual(byId.a!.load.succeeded);
    expect(byId.a!.usage.calls).toBe(2 * byId.a!.usage.identitiesCreated);
    expect(byId.b!.usage.identitiesCreated).toBe(0);
    expect(byId.b!.usage.calls).toBeGreaterThanOrEqual(byId.b!.load.succeeded);
    expect(byId.c!.usage.identitiesCreated).toBe(100);
    expect(byId.d!.usage.calls).toBe(0);
    expect(
      figures.cold.map((entry) => [entry.variant, entry.samples.map((sample) => sample.status)]),
    ).toEqual([
      ['bundled', [200]],
      ['unbundled', [200]],
    ]);
  }, 120_000);

  it('runs the telemetry part: load and cold starts with telemetry off and on, spans received while on', async () => {
    const otelJson = path.join(OUTPUT_DIR, `${randomUUID()}.json`);
    await mkdir(OUTPUT_DIR, { recursive: true });
    try {
      const { stdout } = await run(
        TSX,
        [
          'bench/run.ts',
          '--only=otel',
          '--duration=1',
          '--connections=2',
          '--users=3',
          '--cold-start-runs=1',
          `--json=${otelJson}`,
        ],
        { cwd: ROOT, timeout: 100_000 },
      );
      expect(stdout).toContain('Telemetry cost, scenario b at ACS latency 0');
      expect(stdout).toContain('Telemetry cold start, bundled entry');
      expect(stdout).toMatch(/^on \(OTLP\/HTTP JSON\)\s+[\d.]+ \(\d+\.\d\dx\)/m);
      const { telemetry } = JSON.parse(await readFile(otelJson, 'utf8')) as {
        telemetry: {
          load: Record<'off' | 'on', { load: { failed: number; succeeded: number } }[]>;
          cold: Record<'off' | 'on', { samples: { status: number }[] }>;
          spansReceived: number;
        };
      };
      for (const result of [...telemetry.load.off, ...telemetry.load.on]) {
        expect(result.load.succeeded).toBeGreaterThan(0);
        expect(result.load.failed).toBe(0);
      }
      // On means on: the service under load exported its spans to the benchmark's collector.
      expect(telemetry.spansReceived).toBeGreaterThan(0);
      expect(telemetry.cold.off.samples.map((sample) => sample.status)).toEqual([200]);
      expect(telemetry.cold.on.samples.map((sample) => sample.status)).toEqual([200]);
    } finally {
      await rm(otelJson, { force: true });
    }
  }, 120_000);

  it('runs the scale part: three instances over one Azurite table, counted at the emulator', async () => {
    const scaleJson = path.join(OUTPUT_DIR, `${randomUUID()}.json`);
    try {
      const { stdout } = await run(
        TSX,
        [
          'bench/run.ts',
          '--only=scale',
          '--connections=3',
          '--scale-users=4',
          '--scale-revocations=2',
          '--scale-known-users=6',
          '--scale-requests=30',
          `--json=${scaleJson}`,
        ],
        { cwd: ROOT, timeout: 80_000 },
      );
      for (const title of [
        "Scale-out: new users' first six requests at once",
        'Scale-out: tokens handed out right after a revoke or delete',
        'Scale-out: 30 known-user requests round-robin over 3 instances',
        'Scale-out: a fourth instance SIGKILLed',
        'Scale-out targets (issues 10 and 13; report only)',
      ]) {
        expect(stdout).toContain(title);
      }
      expect(stdout).not.toContain('Targets (issue 6; report only)');

      const { scale } = JSON.parse(await readFile(scaleJson, 'utf8')) as ScaleJson;
      expect(scale.bursts.map((burst) => burst.faults)).toEqual(['none', 503, 429]);
      for (const burst of scale.bursts) {
        expect(burst).toMatchObject({ users: 4, requests: 24, answered: 24, usersWithOneIdentity: 4 });
        expect(burst.identitiesAdded).toBe(4);
        expect(burst.orphans).toBe(0);
      }
      // The fault schedule fails exactly 30% of ACS calls: the faults must really hit, and be absorbed (the SDK's
      // retries, the service's 503 + Retry-After and the client's retry) with one identity per user.
      for (const burst of scale.bursts.filter((b) => b.faults !== 'none')) {
        expect(burst.faultsInjected).toBeGreaterThan(0);
      }
      expect(scale.bursts[0]).toMatchObject({ creates: 4, deletes: 0, faultsInjected: 0, clientRetries: 0 });
      expect(scale.deadTokens).toEqual(
        (['revoke', 'delete'] as const).map((action) => ({
          action,
          users: 2,
          actionsAnswered: 2,
          tokensAfter: 6,
          notServed: 0,
          inactive: 0,
          earlierStillActive: 0,
        })),
      );
      expect(scale.reuse.map((row) => `${row.mode}/${row.connections}`)).toEqual([
        'shared/3',
        'shared/1',
        'per-instance/3',
        'per-instance/1',
      ]);
      for (const row of scale.reuse) {
        expect(row).toMatchObject({ requests: 30, answered: 30 });
        if (row.mode === 'shared') expect(row).toMatchObject({ acsCalls: 0, reusedAnswers: 30 });
        // Per instance, a user's first request on each of the other two instances goes to ACS.
        else expect(row.acsCalls).toBeGreaterThan(0);
        expect(row.reusedAnswers).toBe(30 - row.acsCalls);
      }
      expect(scale.kill).toMatchObject({ users: 10, servedAfterKill: 10, sameIdentityAgain: 10 });
      expect(scale.kill.createsInFlight).toBeGreaterThan(0);
      expect(scale.kill.orphans).toBeLessThanOrEqual(scale.kill.createsInFlight);
    } finally {
      await rm(scaleJson, { force: true });
    }
  }, 90_000);
});
