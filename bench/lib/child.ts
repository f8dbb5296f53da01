import { readFileSync } from 'node:fs';

/** What a benchmark child process runs: a server started from the parent's config, closed when the parent leaves. */
export interface ChildServer {
  url: string;
  /** Anything else the parent needs to know (e.g. the emulator's connection string). */
  details?: Record<string, string>;
  close(): Promise<void>;
}

export type ParentMessage = { type: 'start'; config: unknown } | { type: 'usage' };
export type ChildMessage =
  | { type: 'ready'; url: string; details: Record<string, string> }
  | { type: 'failed'; message: string }
  | { type: 'usage'; peakRssBytes: number; cpuMicros: number };

const SAMPLE_INTERVAL_MS = 50;

/**
 * The process's peak resident set size so far. Linux keeps the exact figure (VmHWM); elsewhere the highest of
 * samples taken every 50 ms stands in for it.
 */
function peakTracker(): () => number {
  if (kernelPeakRss() !== undefined) return () => kernelPeakRss() ?? 0;
  let sampled = process.memoryUsage.rss();
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage.rss());
  }, SAMPLE_INTERVAL_MS);
  timer.unref();
  return () => Math.max(sampled, process.memoryUsage.rss());
}

/** The peak RSS Linux keeps for the process (VmHWM), or undefined elsewhere. */
function kernelPeakRss(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `start(config)` when the parent sends its config, reports its URL, peak memory and CPU time, exits with the parent. */
export function serveFromParent<Config>(start: (config: Config) => Promise<ChildServer>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('This file is a benchmark child process; bench/run.ts starts it.');
  const peak = peakTracker();
  let server: ChildServer | undefined;

  process.on('message', (message: ParentMessage) => {
    if (message.type === 'usage') {
      const cpu = process.cpuUsage();
      send({ type: 'usage', peakRssBytes: peak(), cpuMicros: cpu.user + cpu.system } satisfies ChildMessage);
      return;
    }
    start(message.config as Config).then(
      (started) => {
        server = started;
        send({ type: 'ready', url: started.url, details: started.details ?? {} } satisfies ChildMessage);
      },
      (error: unknown) => {
        send({
          type: 'failed',
          message: error instanceof Error ? error.message : String(error),
        } satisfies ChildMessage);
      },
    );
  });
  process.on('disconnect', () => {
    const closing = server?.close() ?? Promise.resolve();
    closing.finally(() => process.exit(0));
  });
}
