import type { HttpResponseInit } from '@azure/functions';
import type { Principal } from './caller/principal.js';
import { PROBLEM_TYPE_BASE } from './http/problem.js';
import { hashUser } from './log.js';

/**
 * Telemetry is the one JSON log line each request writes. The Functions host sends it to Application Insights
 * (`traces`, the line in `message`), where the queries of docs/observability.md turn its fields into the counters:
 * tokens issued and reused, requests denied by reason, ACS errors and ACS latency. Field names are an interface:
 * renaming one breaks those queries.
 */
export const REQUEST_EVENT = 'request';

/** One HTTP call to ACS: `ok`, or how it failed (`acs_429`, `acs_timeout`...), and how long it took. */
export interface AcsAttempt {
  readonly outcome: string;
  readonly ms: number;
}

/** What a request did with ACS, as its AcsSession recorded it. */
export interface AcsUsage {
  readonly calls: number;
  readonly attempts: readonly AcsAttempt[];
  /** Tokens ACS issued during the request. */
  readonly tokensIssued: number;
  /** Tokens handed back from an earlier request instead of asking ACS (token reuse). */
  readonly tokensReused: number;
}

export interface RequestRecord {
  invocationId: string;
  route: string;
  method: string;
  response: HttpResponseInit;
  /** Set by the pipeline for errors it classified itself; otherwise derived from the response. */
  outcome?: string;
  /** Why, as a code (`ERR_JWT_EXPIRED`, `acs_503`, `insufficient_scope`), never a message. */
  reason?: string;
  latencyMs: number;
  caller?: Principal;
  acs?: AcsUsage;
}

/** `ok` below 400; otherwise the kind of the problem document answered (`too-many-requests`...). */
export function outcomeOf(response: HttpResponseInit): string {
  if ((response.status ?? 200) < 400) return 'ok';
  const type = (response.jsonBody as { type?: unknown } | undefined)?.type;
  return typeof type === 'string' && type.startsWith(PROBLEM_TYPE_BASE)
    ? type.slice(PROBLEM_TYPE_BASE.length)
    : 'refused';
}

const milliseconds = (value: number) => Math.round(value);

/** The request's log line: who (hashed), what, how it ended, and what it cost in ACS calls. Never a secret. */
export function requestLogLine(record: RequestRecord): Record<string, unknown> {
  const { caller, acs } = record;
  const attempts = acs?.attempts ?? [];
  return {
    event: REQUEST_EVENT,
    invocationId: record.invocationId,
    route: record.route,
    method: record.method,
    status: record.response.status ?? 200,
    outcome: record.outcome ?? outcomeOf(record.response),
    ...(record.reason ? { reason: record.reason } : {}),
    latencyMs: milliseconds(record.latencyMs),
    user: caller ? (caller.anonymous ? 'anonymous' : hashUser(caller)) : undefined,
    acsCalls: acs?.calls ?? 0,
    acsErrors: attempts.filter((attempt) => attempt.outcome !== 'ok').length,
    acsLatencyMs: milliseconds(attempts.reduce((total, attempt) => total + attempt.ms, 0)),
    ...(attempts.length > 0
      ? { acs: attempts.map(({ outcome, ms }) => ({ outcome, ms: milliseconds(ms) })) }
      : {}),
    tokensIssued: acs?.tokensIssued ?? 0,
    tokensReused: acs?.tokensReused ?? 0,
  };
}
