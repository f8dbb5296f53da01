import { storeUnavailableDetail } from '../identities/unavailable-detail.js';
import type { Settings } from '../settings.js';
import type {
  AcsFailureError,
  AcsUnavailableError,
  AuthenticationError,
  ErasedMeanwhileError,
  IdentityPendingError,
  IdentityStoreUnavailableError,
  KeysUnavailableError,
  TokenSealingUnavailableError,
  UserLimitExceededError,
} from '../shared/errors.js';
import type { ProblemError, ProblemInit } from './problem.js';

/** How an error ends a request: the problem answered, and the outcome and reason code the request log line gets. */
export interface ErrorAnswer {
  readonly problem: Omit<ProblemInit, 'invocationId'>;
  /** The log line's `outcome`: what kind of end this was. */
  readonly outcome: string;
  /** Why, as a code (`ERR_JWT_EXPIRED`, `acs_503`, `insufficient_scope`), never a message. */
  readonly reason?: string;
}

/** The settings an answer's wording depends on (which store is unavailable). */
type AnswerSettings = Pick<Settings, 'store'>;

/** Seconds a client should wait when nothing more precise is known (store or key set unavailable). */
const RETRY_AFTER_SECONDS = '5';

/**
 * Every error the request path may throw, by its stable `code`, and how it is answered. An error whose code is not
 * here (a defect) is answered `500 internal` by the pipeline, with its class and stack frames logged, never its
 * message.
 */
const answers = {
  ERR_PROBLEM: (error: ProblemError) => ({
    problem: error.problem,
    outcome: error.type,
    ...(error.options.reason ? { reason: error.options.reason } : {}),
  }),
  ERR_UNAUTHENTICATED: (error: AuthenticationError) => ({
    problem: {
      type: 'unauthenticated',
      detail: error.tokenSent
        ? 'The bearer token is not valid for this service.'
        : 'Send a bearer token in the Authorization header.',
      headers: { 'WWW-Authenticate': error.tokenSent ? 'Bearer error="invalid_token"' : 'Bearer' },
    },
    outcome: 'unauthenticated',
    reason: error.reason,
  }),
  ERR_CALLER_KEYS_UNAVAILABLE: (error: KeysUnavailableError) => ({
    problem: {
      type: 'unavailable',
      detail: 'Callers cannot be verified right now. Retry later.',
      headers: { 'Retry-After': RETRY_AFTER_SECONDS },
    },
    outcome: 'keys_unavailable',
    reason: error.message,
  }),
  ERR_ACS_UNAVAILABLE: (error: AcsUnavailableError) => ({
    problem: {
      type: 'unavailable',
      detail: 'Azure Communication Services is busy or unavailable. Retry after the indicated time.',
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    },
    outcome: 'acs_unavailable',
    reason: error.reason,
  }),
  ERR_ACS_FAILURE: (error: AcsFailureError) => ({
    problem: { type: 'upstream-failure', detail: 'Azure Communication Services refused the request.' },
    outcome: 'acs_failure',
    reason: error.reason,
  }),
  ERR_STORE_UNAVAILABLE: (_error: IdentityStoreUnavailableError, settings: AnswerSettings) => ({
    problem: {
      type: 'unavailable',
      detail: storeUnavailableDetail(settings.store),
      headers: { 'Retry-After': RETRY_AFTER_SECONDS },
    },
    outcome: 'store_unavailable',
  }),
  ERR_IDENTITY_PENDING: (_error: IdentityPendingError) => ({
    problem: {
      type: 'unavailable',
      detail: 'Your ACS identity is still being created by another request. Retry in a moment.',
      headers: { 'Retry-After': '1' },
    },
    outcome: 'identity_pending',
  }),
  ERR_USER_LIMIT: (error: UserLimitExceededError) => ({
    problem: {
      type: 'too-many-requests',
      detail: 'Too many requests for this user. Retry after the indicated time.',
      headers: { 'Retry-After': String(error.retryAfterSeconds) },
    },
    outcome: 'too-many-requests',
  }),
  ERR_ERASED_MEANWHILE: (_error: ErasedMeanwhileError) => ({
    problem: {
      type: 'not-found',
      detail: 'Your ACS identity was erased while this request ran. A new request creates a new one.',
    },
    outcome: 'erased_meanwhile',
  }),
  // Token reuse catches this one and keeps the token in memory instead; should it ever reach the pipeline, the key
  // source is a dependency that is down for now, like the store.
  ERR_SEALING_UNAVAILABLE: (_error: TokenSealingUnavailableError) => ({
    problem: {
      type: 'unavailable',
      detail: 'Tokens cannot be sealed right now. Retry later.',
      headers: { 'Retry-After': RETRY_AFTER_SECONDS },
    },
    outcome: 'sealing_unavailable',
  }),
} satisfies Record<string, (error: never, settings: AnswerSettings) => ErrorAnswer>;

export type ErrorCode = keyof typeof answers;

function isKnown(error: unknown): error is Error & { code: ErrorCode } {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(answers, code);
}

/** The answer to an error of the request path, or undefined for an error no code names (the pipeline's 500). */
export function answerFor(error: unknown, settings: AnswerSettings): ErrorAnswer | undefined {
  if (!isKnown(error)) return undefined;
  const answer = answers[error.code] as (error: unknown, settings: AnswerSettings) => ErrorAnswer;
  return answer(error, settings);
}
