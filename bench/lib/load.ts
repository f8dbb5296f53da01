import autocannon, { type Options, type Result } from 'autocannon';

/** Who sends each request: one credential per request in turn, or one per connection for its whole life. */
export type Callers =
  | { kind: 'none' }
  | { kind: 'per-request'; authorization: (requestIndex: number) => string }
  | { kind: 'per-connection'; authorization: (connectionIndex: number) => string };

export interface LoadPlan {
  url: string;
  connections: number;
  /** Seconds to run; ignored when `amount` is set. */
  durationSeconds?: number;
  /** Exactly this many requests, spread evenly over the connections. */
  amount?: number;
  method: 'GET' | 'POST';
  body?: string;
  callers: Callers;
}

export interface LoadResult {
  /** Requests sent, including those cut off unanswered when the run ended (their ACS calls still happen). */
  sent: number;
  /** Requests answered 2xx. */
  succeeded: number;
  /** Non-2xx answers and connection errors (timeouts included). */
  failed: number;
  seconds: number;
  requestsPerSecond: number;
  /** Latency percentiles of 2xx answers, in ms. */
  p50: number;
  p95: number;
  p99: number;
}

const REQUEST_TIMEOUT_SECONDS = 30;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * Loads a server with autocannon. Latencies come from autocannon's per-response timings (fractions of a ms kept,
 * every 2xx response recorded) so p95 is exact; autocannon's own histogram has no p95 and rounds to whole ms.
 */
export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const headers: Record<string, string> = plan.body ? { 'content-type': 'application/json' } : {};
  const options: Options = {
    url: plan.url,
    connections: plan.connections,
    timeout: REQUEST_TIMEOUT_SECONDS,
    method: plan.method,
    headers,
    ...(plan.body ? { body: plan.body } : {}),
    ...(plan.amount !== undefined ? { amount: plan.amount } : { duration: plan.durationSeconds ?? 10 }),
  };
  const { callers } = plan;
  if (callers.kind === 'per-request') {
    let next = 0;
    options.requests = [
      {
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, authorization: callers.authorization(next++) },
        }),
      },
    ];
  } else if (callers.kind === 'per-connection') {
    let next = 0;
    options.setupClient = (client) =>
      client.setHeaders({ ...headers, authorization: callers.authorization(next++) });
  }

  const latencies: number[] = [];
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(options, (error, finished) => (error ? reject(error) : resolve(finished)));
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(ms);
    });
  });
  latencies.sort((a, b) => a - b);
  const succeeded = latencies.length;
  return {
    sent: result.requests.sent,
    succeeded,
    failed: result.non2xx + result.errors,
    seconds: result.duration,
    requestsPerSecond: succeeded / result.duration,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}
