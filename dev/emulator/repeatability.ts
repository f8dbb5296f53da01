import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { errorReply, type Reply } from './http.js';

/**
 * How long a request id is remembered. The ACS "Repeatability of requests" page
 * (learn.microsoft.com/rest/api/communication/repeatable-requests) gives 5 minutes for the ACS APIs that document it.
 */
export const trackingWindowMs = 5 * 60 * 1000;

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110, section 5.6.7).
const imfFixdatePattern = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** What to do with a create that may carry the repeatability headers. */
export type RepeatabilityDecision =
  | { kind: 'not-repeatable' }
  | { kind: 'answer'; reply: Reply }
  | { kind: 'execute'; complete(reply: Reply): Reply; abandon(): void };

interface Entry {
  fingerprint: string;
  firstSentMs: number;
  /** The first execution's answer, once it succeeded; undefined while it runs. */
  reply?: Reply;
}

/**
 * Repeatable create (API 2023-08-01, the only version whose specification defines Repeatability-Request-ID and
 * Repeatability-First-Sent on create), following the response table of the ACS page cited above: a new request id
 * is executed and answered with `Repeatability-Result: accepted`; the same id with the same request replays the
 * first answer instead of creating again; malformed headers or the same id with another request: 400, rejected;
 * a first-sent time outside the window: 412, rejected; the same id while the first is still running: 409, rejected.
 * Only a successful first answer is kept, so a request whose first attempt was refused is executed afresh.
 */
export class RepeatabilityLedger {
  private readonly entries = new Map<string, Entry>();

  decide(
    headers: IncomingHttpHeaders,
    request: { method: string; target: string; body: Buffer },
    nowMs: number,
  ): RepeatabilityDecision {
    const requestId = single(headers['repeatability-request-id']);
    if (requestId === undefined) return { kind: 'not-repeatable' };
    this.forgetOlderThan(nowMs - trackingWindowMs);
    const firstSent = single(headers['repeatability-first-sent']);
    const firstSentMs = firstSent && imfFixdatePattern.test(firstSent) ? Date.parse(firstSent) : Number.NaN;
    if (!guidPattern.test(requestId) || Number.isNaN(firstSentMs)) {
      return rejected(
        400,
        'InvalidRepeatabilityHeaders',
        'Repeatability-Request-ID must be a GUID and Repeatability-First-Sent an IMF-fixdate HTTP date.',
      );
    }
    if (firstSentMs < nowMs - trackingWindowMs) {
      return rejected(
        412,
        'RepeatabilityExpired',
        'Repeatability-First-Sent is outside the tracked window; the request may not be safely repeated.',
      );
    }
    const fingerprint = fingerprintOf(request);
    const key = requestId.toLowerCase();
    const entry = this.entries.get(key);
    if (entry) {
      if (entry.fingerprint !== fingerprint) {
        return rejected(
          400,
          'RepeatabilityMismatch',
          'The Repeatability-Request-ID was used for another request.',
        );
      }
      if (!entry.reply) {
        return rejected(
          409,
          'RepeatabilityInProgress',
          'The first request with this Repeatability-Request-ID is still running.',
        );
      }
      return { kind: 'answer', reply: withResult(entry.reply, 'accepted') };
    }
    const fresh: Entry = { fingerprint, firstSentMs };
    this.entries.set(key, fresh);
    return {
      kind: 'execute',
      complete: (reply) => {
        fresh.reply = reply;
        return withResult(reply, 'accepted');
      },
      abandon: () => {
        this.entries.delete(key);
      },
    };
  }

  private forgetOlderThan(cutoffMs: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.firstSentMs < cutoffMs && entry.reply) this.entries.delete(key);
    }
  }
}

function rejected(status: number, code: string, message: string): RepeatabilityDecision {
  return {
    kind: 'answer',
    reply: errorReply(status, { code, message }, { 'repeatability-result': 'rejected' }),
  };
}

function withResult(reply: Reply, result: 'accepted' | 'rejected'): Reply {
  return { ...reply, headers: { ...reply.headers, 'repeatability-result': result } };
}

function fingerprintOf(request: { method: string; target: string; body: Buffer }): string {
  return createHash('sha256')
    .update(`${request.method}\n${request.target}\n`)
    .update(request.body)
    .digest('base64');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
