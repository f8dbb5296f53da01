/**
 * Errors raised below the request path that it answers by their stable `code` (src/http/error-answers.ts maps every
 * code to its problem). Kept here, at the bottom of the layers, so a shared helper can raise one without importing
 * the adapter that owns the concept.
 */

/** The backing store could not be reached or failed; the request should end in 503, not 500. */
export class IdentityStoreUnavailableError extends Error {
  override readonly name = 'IdentityStoreUnavailableError';
  readonly code = 'ERR_STORE_UNAVAILABLE';
}
