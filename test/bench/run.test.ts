import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

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
});
