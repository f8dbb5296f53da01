import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { ChildMessage, ParentMessage } from './child.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHILD_DIR = path.join(REPO_ROOT, '.artifacts/bench/bin');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** The programs the benchmark runs in child processes: servers started by serveFromParent, and the cold start. */
export const CHILD_ENTRIES = {
  emulator: 'bench/processes/emulator.ts',
  service: 'bench/processes/service.ts',
  baseline: 'bench/processes/baseline.ts',
  coldStart: 'bench/processes/cold-start.ts',
} as const;
export type ServerName = Exclude<keyof typeof CHILD_ENTRIES, 'coldStart'>;

/**
 * Compiles the child programs to plain JavaScript once per run, so each server runs on bare Node: no TypeScript
 * loader in its start-up time or memory, and the same for the baseline and the service. Packages stay external
 * and load from node_modules, as they do for both.
 */
export async function buildChildren(): Promise<void> {
  await esbuild.build({
    absWorkingDir: REPO_ROOT,
    entryPoints: Object.fromEntries(Object.entries(CHILD_ENTRIES).map(([name, entry]) => [name, entry])),
    outdir: CHILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node22',
    format: 'esm',
    logLevel: 'warning',
  });
}

export interface RunningChild {
  url: string;
  details: Record<string, string>;
  pid: number;
  /** The child's peak resident set size and the CPU time it used, both since it started. */
  usage(): Promise<{ peakRssBytes: number; cpuMicros: number }>;
  stop(): Promise<void>;
  /** Kills the process with `signal` (no drain, as when an instance dies) and waits until it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Forks a built child program, hands it `config` and resolves once its server listens. */
export async function startChild(
  name: ServerName,
  config: unknown,
  env: Record<string, string | undefined> = {},
  nodeOptions: readonly string[] = [],
): Promise<RunningChild> {
  const child = fork(path.join(CHILD_DIR, `${name}.mjs`), [], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    execArgv: [...nodeOptions],
    // Servers log every request as production does; the lines go to /dev/null so the parent never spends CPU on them.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });

  const ready = await new Promise<{ url: string; details: Record<string, string> }>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'ready') done(() => resolve(message));
      if (message.type === 'failed') fail(message.message);
    };
    const onExit = (code: number | null) => fail(`exited with ${code}`);
    function done(settle: () => void) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      settle();
    }
    function fail(reason: string) {
      done(() => reject(new Error(`The ${name} process failed: ${reason}${stderr ? `\n${stderr}` : ''}`)));
      child.kill();
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ type: 'start', config } satisfies ParentMessage);
  });

  return {
    url: ready.url,
    details: ready.details,
    pid: child.pid ?? 0,
    async usage() {
      const answer = new Promise<{ peakRssBytes: number; cpuMicros: number }>((resolve) => {
        const onMessage = (message: ChildMessage) => {
          if (message.type !== 'usage') return;
          child.off('message', onMessage);
          resolve({ peakRssBytes: message.peakRssBytes, cpuMicros: message.cpuMicros });
        };
        child.on('message', onMessage);
      });
      child.send({ type: 'usage' } satisfies ParentMessage);
      return answer;
    },
    stop: () => stopChild(child),
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
