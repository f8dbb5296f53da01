import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** A service process started with telemetry settings, its output kept line by line for the test to read. */
export interface TracedProcess {
  readonly child: ChildProcess;
  /** Every line the process wrote so far, stdout and stderr. */
  readonly lines: string[];
  /** Resolves with the first line (seen so far or to come) that matches. */
  line(pattern: RegExp): Promise<string>;
  /** SIGTERM, as the platform stops an instance: the process exports its last spans, then exits. */
  stop(): Promise<number | null>;
}

/** Spawns `command` in the repository with `env` on top of this process's environment. */
export function startTracedProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
): TracedProcess {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() reaches what `npm start` runs under npm and sh.
    detached: true,
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const wake of waiters) wake();
    });
  }
  return {
    child,
    lines,
    line(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((line) => pattern.test(line));
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        child.once('exit', (code) =>
          reject(new Error(`exited with ${code} before a line matched ${pattern}:\n${lines.join('\n')}`)),
        );
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit') as Promise<[number | null]>;
      process.kill(-child.pid!, 'SIGTERM');
      return (await exited)[0];
    },
  };
}
