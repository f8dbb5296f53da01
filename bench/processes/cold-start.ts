import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { FunctionsWorkerShim } from '../lib/functions-worker-shim.js';

export interface ColdStartConfig {
  /** dist/index.cjs (bundled, CommonJS) or dist-unbundled/index.js (ESM, node_modules resolved at load). */
  entry: string;
  /** A caller token for the first request. */
  authorization: string;
}

export interface ColdStartSample {
  /**
   * Time to load the entry: every module it needs, its settings and clients, its function registrations, and its
   * appStart hooks (the telemetry start).
   */
  loadMs: number;
  /** Time to answer the first POST /api/token once loaded (key-set discovery, one ACS call, the store). */
  firstRequestMs: number;
  /** From the start of this Node process to the first answer. */
  sinceProcessStartMs: number;
  status: number;
}

/**
 * One cold start in this fresh process: the entry is loaded the way the Functions worker loads it (with the
 * worker's `@azure/functions-core` stood in for), then its token function answers one request.
 */
async function coldStart({ entry, authorization }: ColdStartConfig): Promise<ColdStartSample> {
  const worker = new FunctionsWorkerShim();
  worker.install();

  const loadStarted = performance.now();
  if (entry.endsWith('.cjs')) createRequire(import.meta.url)(entry);
  else await import(pathToFileURL(entry).href);
  await worker.startApp();
  const loaded = performance.now();

  const answer = await worker.invokeHttp('issueToken', {
    method: 'POST',
    url: 'http://localhost:7071/api/token',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ scopes: ['voip'] }),
  });
  const answered = performance.now();
  return {
    loadMs: loaded - loadStarted,
    firstRequestMs: answered - loaded,
    sinceProcessStartMs: answered,
    status: answer.status,
  };
}

process.once('message', (config: ColdStartConfig) => {
  coldStart(config).then(
    (sample) => process.send?.({ type: 'sample', sample }, () => process.exit(0)),
    (error: unknown) =>
      process.send?.(
        { type: 'failed', message: error instanceof Error ? error.message : String(error) },
        () => process.exit(1),
      ),
  );
});
