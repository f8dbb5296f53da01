import { fork } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { buildBundle, buildUnbundled } from '../scripts/build.js';
import { CHILD_DIR, REPO_ROOT } from './lib/processes.js';
import type { ColdStartConfig, ColdStartSample } from './processes/cold-start.js';

export type ColdStartVariant = 'bundled' | 'unbundled';

/**
 * The two builds of the current source, made the way `npm run build` (dist/index.cjs) and `npm run build:unbundled`
 * (dist-unbundled/) make them, but under .artifacts/ so a benchmark never replaces what is about to be deployed.
 */
const BUILD_DIR = path.join(REPO_ROOT, '.artifacts/bench/builds');
const ENTRIES: Record<ColdStartVariant, string> = {
  bundled: path.join(BUILD_DIR, 'dist/index.cjs'),
  unbundled: path.join(BUILD_DIR, 'dist-unbundled/index.js'),
};

export interface ColdStartFigures {
  variant: ColdStartVariant;
  /** Medians over the runs, in ms. */
  loadMs: number;
  firstRequestMs: number;
  sinceProcessStartMs: number;
  samples: ColdStartSample[];
}

export interface ColdStartOptions {
  runs: number;
  /** The service's app settings (ACS, caller validation, store), as the Function App would have them. */
  env: Record<string, string>;
  /** A caller token for a user who has no identity yet, one per run. */
  authorizationFor(run: number): Promise<string>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Builds both variants from the current source with scripts/build.ts, with package.json beside them as in the
 * deployed package (it makes .js files ESM, and the app reads its version from it).
 */
export async function buildEntries(): Promise<void> {
  await buildBundle({ outfile: path.relative(REPO_ROOT, ENTRIES.bundled) });
  await buildUnbundled({ outdir: path.relative(REPO_ROOT, path.dirname(ENTRIES.unbundled)) });
  await copyFile(path.join(REPO_ROOT, 'package.json'), path.join(BUILD_DIR, 'package.json'));
}

function sampleOnce(
  entry: string,
  authorization: string,
  env: Record<string, string>,
): Promise<ColdStartSample> {
  const child = fork(path.join(CHILD_DIR, 'coldStart.mjs'), [], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.once(
      'message',
      (message: { type: 'sample'; sample: ColdStartSample } | { type: 'failed'; message: string }) => {
        settled = true;
        if (message.type === 'sample') resolve(message.sample);
        else reject(new Error(`cold start of ${entry} failed: ${message.message}`));
      },
    );
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`cold start of ${entry} exited with ${code}\n${stderr}`));
    });
    child.send({ entry, authorization } satisfies ColdStartConfig);
  });
}

interface ColdStartRun {
  entry: string;
  env: Record<string, string>;
}

/**
 * Starts each run in fresh Node processes, alternating them so drift on the machine hits all alike, and answers
 * one token request per process. Returns each run's medians, in order.
 */
async function alternate(
  runs: readonly ColdStartRun[],
  options: ColdStartOptions,
): Promise<Omit<ColdStartFigures, 'variant'>[]> {
  const samples: ColdStartSample[][] = runs.map(() => []);
  let caller = 0;
  for (let round = 0; round < options.runs; round++) {
    for (const [index, { entry, env }] of runs.entries()) {
      const sample = await sampleOnce(entry, `Bearer ${await options.authorizationFor(caller++)}`, env);
      if (sample.status !== 200) throw new Error(`the first request to ${entry} answered ${sample.status}`);
      samples[index]!.push(sample);
    }
  }
  return samples.map((taken) => ({
    loadMs: median(taken.map((sample) => sample.loadMs)),
    firstRequestMs: median(taken.map((sample) => sample.firstRequestMs)),
    sinceProcessStartMs: median(taken.map((sample) => sample.sinceProcessStartMs)),
    samples: taken,
  }));
}

/** The bundled and the unbundled entry, each in fresh processes. */
export async function measureColdStart(options: ColdStartOptions): Promise<ColdStartFigures[]> {
  const variants = ['bundled', 'unbundled'] as const;
  const figures = await alternate(
    variants.map((variant) => ({ entry: ENTRIES[variant], env: options.env })),
    options,
  );
  return figures.map((measured, index) => ({ variant: variants[index]!, ...measured }));
}

/**
 * The bundled entry with telemetry off (nothing configured) and on (`telemetryEnv`: an OTLP endpoint), each in
 * fresh processes. With telemetry on, the load includes reading dist/telemetry-otlp.cjs and starting the SDK, and the
 * first request includes its spans.
 */
export async function measureTelemetryColdStart(
  options: ColdStartOptions & { telemetryEnv: Record<string, string> },
): Promise<{ off: Omit<ColdStartFigures, 'variant'>; on: Omit<ColdStartFigures, 'variant'> }> {
  const [off, on] = await alternate(
    [
      { entry: ENTRIES.bundled, env: options.env },
      { entry: ENTRIES.bundled, env: { ...options.env, ...options.telemetryEnv } },
    ],
    options,
  );
  return { off: off!, on: on! };
}
