import type { HttpResponseInit } from '@azure/functions';
import { userKeyOf } from '../identities/identity-store.js';
import { type Admission, type Clock, DEFAULT_MAX_BUCKETS, TokenBuckets } from '../shared/token-buckets.js';
import { addressLimitKey, clientAddress } from './client-address.js';
import type { RequestScope, Step } from './pipeline.js';
import { problem } from './problem.js';

export interface RateLimitOptions {
  /** RATE_LIMIT_PER_MINUTE: requests per minute per verified user, and failed authentications per client address. */
  perMinute: number;
  maxBuckets?: number;
  now?: Clock;
}

/** Requests whose client address cannot be read share one bucket rather than escaping the limit. */
const UNKNOWN_ADDRESS = 'unknown';

/** The client's address as the limits count it: one spelling per address, IPv6 by its /64 (client-address.ts). */
function addressOf(scope: RequestScope): string {
  const address = clientAddress(scope.request.headers);
  return address === undefined ? UNKNOWN_ADDRESS : addressLimitKey(address);
}

function tooManyRequests(
  scope: RequestScope,
  refusal: Extract<Admission, { allowed: false }>,
  detail: string,
) {
  return problem({
    type: 'too-many-requests',
    detail,
    invocationId: scope.context.invocationId,
    headers: { 'Retry-After': String(refusal.retryAfterSeconds) },
  });
}

/** Headers that carry credentials to verify: a bearer token (AUTH_MODE=jwt) or the platform's principal (easyauth). */
const CREDENTIAL_HEADERS = ['authorization', 'x-ms-client-principal'];

function sendsCredentials(scope: RequestScope): boolean {
  return CREDENTIAL_HEADERS.some((name) => scope.request.headers.has(name));
}

/** Whether an error of verification means the credentials did not pass (401, or 403 insufficient_scope). */
export type CredentialsRefused = (error: unknown) => boolean;

/**
 * The per-address limit on failed authentication, in this instance's memory, around the verification alone.
 * A request that sends credentials takes its address's token before they are verified and gets it back as soon as
 * they pass, so however many arrive at once, an address gets at most a bucket's worth of verifications per minute on
 * each instance; garbage and guessing beyond it cost no signature check and no key fetch, while a busy address with
 * valid tokens holds each token only for the milliseconds a verification takes. A request without credentials costs
 * no verification: its address is only checked, and charged when it is refused. A verified user behind an address
 * whose bucket is empty waits too until it refills (the price of refusing before verifying).
 */
export function failedAuthenticationLimit({
  perMinute,
  maxBuckets = DEFAULT_MAX_BUCKETS,
  now,
}: RateLimitOptions) {
  const buckets = new TokenBuckets({ perMinute, maxBuckets, ...(now ? { now } : {}) });
  /** Runs `verify` within the address's limit: a 429 answer when the address has none left, else undefined. */
  return async (
    scope: RequestScope,
    verify: () => Promise<void>,
    refused: CredentialsRefused,
  ): Promise<HttpResponseInit | undefined> => {
    const address = addressOf(scope);
    const reserving = sendsCredentials(scope);
    const admission = reserving ? buckets.take(address) : buckets.check(address);
    if (!admission.allowed) {
      return tooManyRequests(
        scope,
        admission,
        'Too many failed authentications from this address. Retry later.',
      );
    }
    try {
      await verify();
    } catch (error) {
      const failed = refused(error);
      if (reserving && !failed) buckets.giveBack(address);
      if (!reserving && failed) buckets.take(address);
      throw error;
    }
    if (reserving) buckets.giveBack(address);
    return undefined;
  };
}
export type FailedAuthenticationLimit = ReturnType<typeof failedAuthenticationLimit>;

/**
 * The per-instance per-user limit: one bucket per verified user (issuer + user id) in this instance's memory, spent
 * by every authenticated request, after `authenticate` and before the operation. It guards what costs no ACS call
 * and no write (a token handed back from the row, a read of the identity); what costs ACS is also limited across
 * every instance, by the shared limit the user's row carries (src/limits/row-limit.ts), without a write of its own.
 */
export function userLimit({ perMinute, maxBuckets = DEFAULT_MAX_BUCKETS, now }: RateLimitOptions): Step {
  const userBuckets = new TokenBuckets({ perMinute, maxBuckets, ...(now ? { now } : {}) });
  return async (scope, next) => {
    const { caller } = scope;
    if (!caller) throw new Error('userLimit runs after authenticate');
    // An anonymous caller is a new random user on every call (AUTH_MODE=anonymous): only its address is stable.
    const key = caller.anonymous ? `address ${addressOf(scope)}` : userKeyOf(caller);
    const admission = userBuckets.take(key);
    if (!admission.allowed) {
      return tooManyRequests(
        scope,
        admission,
        'Too many requests for this user. Retry after the indicated time.',
      );
    }
    return next();
  };
}
