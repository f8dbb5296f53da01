import { AcsFailureError, AcsUnavailableError } from '../shared/errors.js';

/** The parts of `@azure/core-rest-pipeline`'s RestError this module reads. */
interface RestErrorLike {
  name: 'RestError';
  statusCode?: number;
  code?: string;
  response?: { headers: { get(name: string): string | undefined } };
}

function isRestError(error: unknown): error is RestErrorLike {
  return error instanceof Error && error.name === 'RestError';
}

const DEFAULT_RETRY_AFTER_SECONDS = 2;
const MAX_RETRY_AFTER_SECONDS = 300;

function retryAfterSeconds(error: RestErrorLike): number {
  const headers = error.response?.headers;
  const milliseconds = Number(
    headers?.get('retry-after-ms') ?? headers?.get('x-ms-retry-after-ms') ?? Number.NaN,
  );
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return clamp(Math.ceil(milliseconds / 1000));
  const header = headers?.get('retry-after');
  if (header === undefined) return DEFAULT_RETRY_AFTER_SECONDS;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? clamp(Math.ceil(seconds)) : DEFAULT_RETRY_AFTER_SECONDS;
}

function clamp(seconds: number) {
  return Math.min(Math.max(seconds, 1), MAX_RETRY_AFTER_SECONDS);
}

/** Status codes after which one more attempt within the time budget is worth it. */
export function isTransientFailure(error: unknown): boolean {
  return isRestError(error) && [500, 502, 504].includes(error.statusCode ?? 0);
}

/**
 * Classifies an error thrown by the ACS SDK. Only the status and error code are kept: the SDK's message and its
 * request (which carries the signed Authorization header) must never reach a client or a log.
 */
export function toAcsError(error: unknown): AcsUnavailableError | AcsFailureError {
  if (error instanceof AcsUnavailableError || error instanceof AcsFailureError) return error;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
    return new AcsUnavailableError('acs_timeout', DEFAULT_RETRY_AFTER_SECONDS);
  }
  if (isRestError(error)) {
    const status = error.statusCode;
    if (status === 429 || status === 503) {
      return new AcsUnavailableError(`acs_${status}`, retryAfterSeconds(error));
    }
    if (status === undefined) return new AcsUnavailableError('acs_unreachable', DEFAULT_RETRY_AFTER_SECONDS);
    if (status >= 500) return new AcsUnavailableError(`acs_${status}`, DEFAULT_RETRY_AFTER_SECONDS);
    return new AcsFailureError(`acs_${status}`, status, error.code);
  }
  return new AcsFailureError('acs_unexpected_error', undefined, undefined);
}
