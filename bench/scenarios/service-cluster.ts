import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningChild } from '../lib/processes.js';
import type { ServiceChildConfig } from '../processes/service.js';
import { type BenchContext, serviceSettings, startServer, TOKEN_REQUEST_BODY } from './context.js';

/** A token request's answer as a client sees it, with how long it took. */
export interface TokenAnswer {
  status: number;
  ms: number;
  communicationUserId?: string;
  token?: string;
}

/** Service child processes sharing one identity table, one ACS emulator and one issuer: a scaled-out deployment. */
export interface ServiceCluster {
  instances: RunningChild[];
  /** Starts one more instance with the same settings. */
  addInstance(): Promise<RunningChild>;
  stop(): Promise<void>;
}

/**
 * Starts `size` instances with identical app settings (so one table name) over the context's Table Storage.
 * `shareReusableTokens: false` keeps reusable tokens per instance, as before shared reuse.
 */
export async function startServiceCluster(
  ctx: BenchContext,
  size: number,
  options: { shareReusableTokens?: boolean } = {},
): Promise<ServiceCluster> {
  if (!ctx.tableStorageConnectionString) throw new Error('a service cluster needs Table Storage');
  const config: ServiceChildConfig = {
    env: serviceSettings(ctx, true),
    ...(options.shareReusableTokens === false ? { shareReusableTokens: false } : {}),
  };
  const instances: RunningChild[] = [];
  const addInstance = async () => {
    const instance = await startServer(ctx, 'service', config);
    instances.push(instance);
    return instance;
  };
  const stop = async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
  };
  try {
    await Promise.all(Array.from({ length: size }, addInstance));
  } catch (error) {
    await stop();
    throw error;
  }
  return { instances, addInstance, stop };
}

/** POST /api/token as the caller whose bearer token is `caller`; a connection failure answers status 0. */
export async function requestToken(instance: RunningChild, caller: string): Promise<TokenAnswer> {
  const started = performance.now();
  try {
    const response = await fetch(`${instance.url}/api/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
      body: TOKEN_REQUEST_BODY,
    });
    if (response.status !== 200) {
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    }
    const body = (await response.json()) as { user: { communicationUserId: string }; token: string };
    return {
      status: 200,
      ms: performance.now() - started,
      communicationUserId: body.user.communicationUserId,
      token: body.token,
    };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}

const CLIENT_RETRIES = 30;
const CLIENT_RETRY_PAUSE_MS = 100;

/**
 * As a client does: asks again after a 503 (ACS or the store busy, or another request still creating the
 * identity). `ms` is the whole wait, retries included.
 */
export async function requestTokenRetrying(
  instance: RunningChild,
  caller: string,
): Promise<TokenAnswer & { retries: number }> {
  const started = performance.now();
  for (let retries = 0; ; retries++) {
    const answer = await requestToken(instance, caller);
    if (answer.status !== 503 || retries === CLIENT_RETRIES) {
      return { ...answer, ms: performance.now() - started, retries };
    }
    await sleep(CLIENT_RETRY_PAUSE_MS);
  }
}

/** A lifecycle call (`POST identity/revoke`, `DELETE identity`) as the caller; resolves to the answer's status. */
export async function callIdentityRoute(
  instance: RunningChild,
  method: 'POST' | 'DELETE',
  route: string,
  caller: string,
): Promise<number> {
  const response = await fetch(`${instance.url}/api/${route}`, {
    method,
    headers: { authorization: `Bearer ${caller}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** Runs `work` for each item, at most `concurrency` at a time, keeping the results in order. */
export async function inBatches<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
