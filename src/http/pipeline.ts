import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AcsSession } from '../acs/client.js';
import { AcsFailureError, AcsUnavailableError } from '../acs/errors.js';
import {
  AuthenticationError,
  hasRequiredScope,
  KeysUnavailableError,
  type Principal,
} from '../caller/principal.js';
import { IdentityStoreUnavailableError } from '../identities/identity-store.js';
import { storeUnavailableDetail } from '../identities/unavailable-detail.js';
import type { Services, ServicesState } from '../services.js';
import { outcomeOf, requestLogLine } from '../telemetry.js';
import { refuseOversizedBody } from './body.js';
import { ProblemError, problem } from './problem.js';

/** What a handler sees: the request, its services, and an ACS session that counts and budgets its ACS calls. */
export interface RequestScope {
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  readonly services: Services;
  readonly acs: AcsSession;
}

export interface AuthenticatedScope extends RequestScope {
  readonly caller: Principal;
}

type MaybeResponse = HttpResponseInit | undefined | Promise<HttpResponseInit | undefined>;

/**
 * A step around every request, in the order of `Services.policies`. A hook that returns a response ends the request
 * with it (a CORS preflight answer, a 429); `decorate` sees every response, errors included (CORS headers).
 */
export interface RequestPolicy {
  beforeAuthentication?(scope: RequestScope): MaybeResponse;
  afterAuthentication?(scope: AuthenticatedScope): MaybeResponse;
  decorate?(scope: RequestScope, response: HttpResponseInit): HttpResponseInit;
}

/** The signature of every route handler: the Functions host's (request, context) plus the services to use. */
export type RouteHandler = ((
  request: HttpRequest,
  context: InvocationContext,
  services: ServicesState,
) => Promise<HttpResponseInit>) & {
  /** Set by `authenticated`: the OpenAPI document derives a route's security and 401/403 answers from it. */
  readonly verifiesCaller?: true;
};

const RETRY_AFTER_SECONDS = '5';

interface Outcome {
  response: HttpResponseInit;
  outcome: string;
  /** Why, for the log line only: an error code, never a message. */
  reason?: string;
}

function toOutcome(
  error: unknown,
  invocationId: string,
  context: InvocationContext,
  services: Services,
): Outcome {
  if (error instanceof ProblemError) {
    const { reason } = error.options;
    return { response: error.toResponse(invocationId), outcome: error.type, ...(reason ? { reason } : {}) };
  }
  if (error instanceof AuthenticationError) {
    return {
      outcome: 'unauthenticated',
      reason: error.reason,
      response: problem({
        type: 'unauthenticated',
        detail: error.tokenSent
          ? 'The bearer token is not valid for this service.'
          : 'Send a bearer token in the Authorization header.',
        invocationId,
        headers: { 'WWW-Authenticate': error.tokenSent ? 'Bearer error="invalid_token"' : 'Bearer' },
      }),
    };
  }
  if (error instanceof KeysUnavailableError) {
    return {
      outcome: 'keys_unavailable',
      reason: error.message,
      response: problem({
        type: 'unavailable',
        detail: 'Callers cannot be verified right now. Retry later.',
        invocationId,
        headers: { 'Retry-After': RETRY_AFTER_SECONDS },
      }),
    };
  }
  if (error instanceof AcsUnavailableError) {
    return {
      outcome: 'acs_unavailable',
      reason: error.reason,
      response: problem({
        type: 'unavailable',
        detail: 'Azure Communication Services is busy or unavailable. Retry after the indicated time.',
        invocationId,
        headers: { 'Retry-After': String(error.retryAfterSeconds) },
      }),
    };
  }
  if (error instanceof AcsFailureError) {
    return {
      outcome: 'acs_failure',
      reason: error.reason,
      response: problem({
        type: 'upstream-failure',
        detail: 'Azure Communication Services refused the request.',
        invocationId,
      }),
    };
  }
  if (error instanceof IdentityStoreUnavailableError) {
    return {
      outcome: 'store_unavailable',
      response: problem({
        type: 'unavailable',
        detail: storeUnavailableDetail(services.settings.store),
        invocationId,
        headers: { 'Retry-After': RETRY_AFTER_SECONDS },
      }),
    };
  }
  // The message may quote secrets or inputs; the stack frames below it do not.
  const frames = error instanceof Error ? error.stack?.split('\n').slice(1, 6).join('\n') : undefined;
  context.error(JSON.stringify({ event: 'unexpected_error', name: (error as Error)?.name, frames }));
  return {
    outcome: 'internal_error',
    response: problem({ type: 'internal', detail: 'An unexpected error occurred.', invocationId }),
  };
}

function withNoStore(response: HttpResponseInit): HttpResponseInit {
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  if (!headers.has('cache-control')) headers.set('Cache-Control', 'no-store');
  const record: Record<string, string> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return { ...response, headers: record };
}

async function runPolicies(
  scope: RequestScope,
  hook: (policy: RequestPolicy) => MaybeResponse,
): Promise<HttpResponseInit | undefined> {
  for (const policy of scope.services.policies) {
    const early = await hook(policy);
    if (early) return early;
  }
  return undefined;
}

/** The steps of one route, given the request scope; `onCaller` hands the verified caller to the request log. */
type RouteSteps = (scope: RequestScope, onCaller: (caller: Principal) => void) => Promise<HttpResponseInit>;

function pipeline(steps: RouteSteps): RouteHandler {
  return async (request, context, state) => {
    const started = performance.now();
    const { invocationId } = context;
    let caller: Principal | undefined;
    let acs: AcsSession | undefined;
    let result: Outcome;

    if (!state.ready) {
      result = {
        outcome: 'misconfigured',
        response: problem({
          type: 'misconfigured',
          detail: 'The service is not configured correctly. Its operators can find the details in the logs.',
          invocationId,
        }),
      };
    } else {
      acs = state.services.acs.session();
      const scope: RequestScope = { request, context, services: state.services, acs };
      try {
        refuseOversizedBody(request);
        const response = await steps(scope, (verified) => {
          caller = verified;
        });
        result = { response, outcome: outcomeOf(response) };
      } catch (error) {
        result = toOutcome(error, invocationId, context, state.services);
      }
      for (const policy of state.services.policies) {
        if (policy.decorate) result.response = policy.decorate(scope, result.response);
      }
    }

    const response = withNoStore(result.response);
    const status = response.status ?? 200;
    const line = JSON.stringify(
      requestLogLine({
        invocationId,
        route: context.functionName,
        method: request.method,
        response,
        outcome: result.outcome,
        ...(result.reason ? { reason: result.reason } : {}),
        latencyMs: performance.now() - started,
        ...(caller ? { caller } : {}),
        ...(acs ? { acs } : {}),
      }),
    );
    if (status >= 500) context.error(line);
    else if (status >= 400) context.warn(line);
    else context.info(line);
    return response;
  };
}

/** A route that requires a verified caller (AUTH_MODE decides how); failures end in 401 before the operation runs. */
export function authenticated(
  operation: (scope: AuthenticatedScope) => Promise<HttpResponseInit>,
): RouteHandler {
  const handler = pipeline(async (scope, onCaller) => {
    const early = await runPolicies(scope, (policy) => policy.beforeAuthentication?.(scope));
    if (early) return early;

    const caller = await scope.services.caller.authenticate(scope.request.headers);
    onCaller(caller);
    const { auth } = scope.services.settings;
    const requiredScope = auth.mode === 'anonymous' ? undefined : auth.requiredScope;
    if (!hasRequiredScope(caller, requiredScope)) {
      throw new ProblemError('forbidden', 'The token lacks the scope or role this service requires.', {
        headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' },
        reason: 'insufficient_scope',
      });
    }

    const authenticatedScope: AuthenticatedScope = { ...scope, caller };
    const refused = await runPolicies(scope, (policy) => policy.afterAuthentication?.(authenticatedScope));
    return refused ?? operation(authenticatedScope);
  });
  return Object.assign(handler, { verifiesCaller: true as const });
}

/** A route anyone may call (health, the not-found answer); the policies still run. */
export function open(operation: (scope: RequestScope) => Promise<HttpResponseInit>): RouteHandler {
  return pipeline(async (scope) => {
    const early = await runPolicies(scope, (policy) => policy.beforeAuthentication?.(scope));
    return early ?? operation(scope);
  });
}
