import type { HttpResponseInit } from '@azure/functions';
import { clientAddress } from './client-address.js';
import type { AuthenticatedScope, RequestPolicy, RequestScope } from './pipeline.js';
import { problem } from './problem.js';
import { type Admission, type Clock, TokenBuckets } from './token-buckets.js';

/** Per kind of bucket: about 300 bytes each with an Entra issuer in the key, so a few MB at most. */
export const DEFAULT_MAX_BUCKETS = 20_000;

export interface RateLimitOptions {
  /** RATE_LIMIT_PER_MINUTE: requests per minute per verified user, and failed authentications per client address. */
  perMinute: number;
  maxBuckets?: number;
  now?: Clock;
}

/** Requests whose client address cannot be read share one bucket rather than escaping the limit. */
const UNKNOWN_ADDRESS = 'unknown';

function addressOf(scope: RequestScope): string {
  return clientAddress(scope.request.headers) ?? UNKNOWN_ADDRESS;
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

/** A 401, or a 403 that challenges the token (insufficient_scope): the credentials did not pass. */
function challengesCredentials(response: HttpResponseInit): boolean {
  if (response.status === 401) return true;
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  return response.status === 403 && headers.has('www-authenticate');
}

/**
 * Token buckets in this instance's memory: one per verified user (issuer + user id), spent by every request, and
 * one per client address, spent by every request whose credentials fail (401, or 403 insufficient_scope). An
 * address whose bucket is empty is refused before its token is even verified, so garbage and guessing cost no
 * signature check and no key fetch; a verified user behind that address waits too until the bucket refills (the
 * price of refusing before verifying). Each instance counts alone: a limit shared across instances belongs in
 * front of the app (API Management).
 */
export function createRateLimitPolicy({
  perMinute,
  maxBuckets = DEFAULT_MAX_BUCKETS,
  now,
}: RateLimitOptions): RequestPolicy {
  const users = new TokenBuckets({ perMinute, maxBuckets, ...(now ? { now } : {}) });
  const failedAuthentications = new TokenBuckets({ perMinute, maxBuckets, ...(now ? { now } : {}) });

  return {
    beforeAuthentication(scope) {
      const admission = failedAuthentications.check(addressOf(scope));
      if (admission.allowed) return undefined;
      return tooManyRequests(
        scope,
        admission,
        'Too many failed authentications from this address. Retry later.',
      );
    },

    afterAuthentication(scope: AuthenticatedScope) {
      const { caller } = scope;
      // An anonymous caller is a new random user on every call (AUTH_MODE=anonymous): only its address is stable.
      const key = caller.anonymous
        ? `address ${addressOf(scope)}`
        : JSON.stringify([caller.issuer, caller.userId]);
      const admission = users.take(key);
      if (admission.allowed) return undefined;
      return tooManyRequests(
        scope,
        admission,
        'Too many requests for this user. Retry after the indicated time.',
      );
    },

    decorate(scope, response: HttpResponseInit) {
      if (challengesCredentials(response)) failedAuthentications.take(addressOf(scope));
      return response;
    },
  };
}
