/**
 * Every error the service raises on purpose, each with its stable `code` (one module, as jose keeps its errors).
 * Every code is answered from one table, src/http/error-answers.ts: the problem the client gets and the outcome the
 * request log line gets. Kept here, at the bottom of the layers, so any layer can raise one without importing the
 * adapter that owns the concept. ProblemError (src/http/problem.ts) and SettingsError (src/settings.ts) stay with
 * the code they describe: they carry types from the request path and the settings schema, which shared/ must not
 * import.
 */

/** The backing store could not be reached or failed; the request should end in 503, not 500. */
export class IdentityStoreUnavailableError extends Error {
  override readonly name = 'IdentityStoreUnavailableError';
  readonly code = 'ERR_STORE_UNAVAILABLE';
}

/** ACS throttled, was unavailable or did not answer within the request's time budget: the client should retry. */
export class AcsUnavailableError extends Error {
  override readonly name = 'AcsUnavailableError';
  readonly code = 'ERR_ACS_UNAVAILABLE';

  constructor(
    readonly reason: string,
    readonly retryAfterSeconds: number,
  ) {
    super(reason);
  }
}

/** ACS refused or failed the call in a way a retry will not fix (bad credentials, unexpected answer). */
export class AcsFailureError extends Error {
  override readonly name = 'AcsFailureError';
  readonly code = 'ERR_ACS_FAILURE';

  constructor(
    readonly reason: string,
    readonly statusCode: number | undefined,
    /** ACS's own error code (`IdentityNotFound`...). */
    readonly acsCode: string | undefined,
  ) {
    super(reason);
  }
}

/** Authentication failed. `reason` is for logs only; clients get a generic 401. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
  readonly code = 'ERR_UNAUTHENTICATED';

  constructor(
    readonly reason: string,
    readonly tokenSent: boolean,
  ) {
    super(reason);
  }
}

/** The keys to verify a token could not be obtained at all (no cached keys and the issuer unreachable). */
export class KeysUnavailableError extends Error {
  override readonly name = 'KeysUnavailableError';
  readonly code = 'ERR_CALLER_KEYS_UNAVAILABLE';
}

/** Another request is creating this user's identity and did not finish within this request's budget. */
export class IdentityPendingError extends Error {
  override readonly name = 'IdentityPendingError';
  readonly code = 'ERR_IDENTITY_PENDING';
}

/** The user asked for more ACS work than the shared per-user limit allows; answered 429 with Retry-After. */
export class UserLimitExceededError extends Error {
  override readonly name = 'UserLimitExceededError';
  readonly code = 'ERR_USER_LIMIT';
  constructor(readonly retryAfterSeconds: number) {
    super('The per-user limit is spent');
  }
}

/**
 * The user's identity was erased after this request first read the row: the erase wins, so this request writes
 * nothing more and creates nothing; a new request starts afresh.
 */
export class ErasedMeanwhileError extends Error {
  override readonly name = 'ErasedMeanwhileError';
  readonly code = 'ERR_ERASED_MEANWHILE';
}

/**
 * The token sealing key source is unreachable or refused us; the message never carries key material or a
 * credential. Token reuse catches it and keeps the token in this instance's memory instead.
 */
export class TokenSealingUnavailableError extends Error {
  override readonly name = 'TokenSealingUnavailableError';
  readonly code = 'ERR_SEALING_UNAVAILABLE';
}
