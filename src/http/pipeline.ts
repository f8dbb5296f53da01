import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AcsSession } from '../acs/client.js';
import { type CallerValidator, hasRequiredScope, type Principal } from '../caller/principal.js';
import type { Logger, LogLevel } from '../log.js';
import type { Settings } from '../settings.js';
import { AuthenticationError } from '../shared/errors.js';
import { outcomeOf, requestLogLine } from '../telemetry.js';
import { activeTraceId, inRequestSpan } from '../tracing/request-span.js';
import { refuseOversizedBody } from './body.js';
import { refuseCrossSiteRequests } from './cross-site.js';
import { answerFor } from './error-answers.js';
import { ProblemError, problem } from './problem.js';

/**
 * What the pipeline itself needs of the services. The composition root (src/services.ts) builds more (the store,
 * token reuse); an operation names what it sees as the `S` of its scope, so nothing here imports upwards.
 */
export interface PipelineServices {
  /**
   * AUTH_MODE and AUTH_REQUIRED_SCOPE for `authenticate`; the CORS origins for the cross-site refusal; the store for
   * the error answers' wording.
   */
  readonly settings: Pick<Settings, 'auth' | 'cors' | 'store'>;
  /** Starts each request's AcsSession (its own time budget and call count). */
  readonly acsGateway: { session(): AcsSession };
  /** Verifies who is calling, as AUTH_MODE says. */
  readonly callerValidator: CallerValidator;
  /** The request steps whose state outlives a request, put in order around each route below. */
  readonly steps: {
    readonly cors: Step;
    readonly userLimit: Step;
  };
  /**
   * Runs `verify` within the per-address limit on failed authentication (src/http/rate-limit.ts): a 429 answer
   * when the address has none left, else undefined.
   */
  readonly failedAuthenticationLimit: (
    scope: RequestScope,
    verify: () => Promise<void>,
    refused: (error: unknown) => boolean,
  ) => Promise<HttpResponseInit | undefined>;
}

/** Either working services, or the names of the settings that keep the service from working (never values). */
export type ServicesState<S extends PipelineServices = PipelineServices> =
  | { readonly ready: true; readonly services: S }
  | { readonly ready: false; readonly settingNames: readonly string[] };

/** What every step and operation sees of one request. */
export interface RequestScope<S extends PipelineServices = PipelineServices> {
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  readonly services: S;
  /** This request's ACS calls: one time budget, counted for the log line. */
  readonly acs: AcsSession;
  /** This request's logger: each line goes to the Functions host's log with the request's invocation id. */
  readonly log: Logger;
  /** The verified caller, once the `authenticate` step has run. */
  caller?: Principal;
  /** How an error ended the request, for the log line: set where the error was answered. */
  ended?: { outcome: string; reason?: string };
}

/** What an operation of an authenticated route sees: the caller is verified. */
export interface AuthenticatedScope<S extends PipelineServices = PipelineServices> extends RequestScope<S> {
  readonly caller: Principal;
}

/** What comes after a step: the rest of the steps, then the operation. */
export type Next = () => Promise<HttpResponseInit>;

/**
 * One step of the request path. It may answer at once (a preflight, a 429), or call `next` and see the answer on its
 * way out (CORS headers, giving back a rate-limit token). An error thrown after it reaches it as a problem answer:
 * steps never see exceptions.
 */
export type Step = (scope: RequestScope, next: Next) => Promise<HttpResponseInit>;

/** The signature of every route handler: the Functions host's (request, context) plus the services to use. */
export type RouteHandler<S extends PipelineServices = PipelineServices> = ((
  request: HttpRequest,
  context: InvocationContext,
  services: ServicesState<S>,
) => Promise<HttpResponseInit>) & {
  /** Set by `authenticated`: the OpenAPI document derives a route's security and 401/403 answers from it. */
  readonly verifiesCaller?: true;
};

/** A declared body over the limit is refused before anyone reads it or verifies the caller. */
const limitBodySize: Step = async (scope, next) => {
  refuseOversizedBody(scope.request);
  return next();
};

const refuseCrossSite: Step = async (scope, next) => {
  refuseCrossSiteRequests(scope.request, scope.services.settings);
  return next();
};

/** Credentials that did not pass: a 401, or the 403 insufficient_scope below. */
const credentialsRefused = (error: unknown) =>
  error instanceof AuthenticationError ||
  (error instanceof ProblemError && error.options.reason === 'insufficient_scope');

/**
 * Verifies the caller (AUTH_MODE decides how) and the scope the service requires, 401 or 403 otherwise, within the
 * per-address limit on failed authentication (src/http/rate-limit.ts), which guards the verification alone.
 */
const authenticate: Step = async (scope, next) => {
  const { callerValidator, settings, failedAuthenticationLimit } = scope.services;
  const refusal = await failedAuthenticationLimit(
    scope,
    async () => {
      scope.caller = await callerValidator.authenticate(scope.request.headers);
      const requiredScope = settings.auth.mode === 'anonymous' ? undefined : settings.auth.requiredScope;
      if (!hasRequiredScope(scope.caller, requiredScope)) {
        throw new ProblemError('forbidden', 'The token lacks the scope or role this service requires.', {
          headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' },
          reason: 'insufficient_scope',
        });
      }
    },
    credentialsRefused,
  );
  return refusal ?? next();
};

/** The scope once `authenticate` has run: its caller is verified (a defect otherwise, answered 500). */
export function verified<S extends PipelineServices>(scope: RequestScope<S>): AuthenticatedScope<S> {
  const { caller } = scope;
  if (caller === undefined) throw new Error('The operation of an authenticated route ran without a caller');
  return Object.assign(scope, { caller });
}

/**
 * CORS → body size → cross-site refusal (Easy Auth's cookie) → authenticate (within the failed-authentication
 * limit) → the route's own steps (`afterAuthentication`: the caller is known there) → user limit → the operation.
 */
export function authenticated<S extends PipelineServices>(
  operation: (scope: AuthenticatedScope<S>) => Promise<HttpResponseInit>,
  afterAuthentication: readonly Step[] = [],
): RouteHandler<S> {
  const handler = pipeline<S>(
    ({ cors, userLimit }) => [
      cors,
      limitBodySize,
      refuseCrossSite,
      authenticate,
      ...afterAuthentication,
      userLimit,
    ],
    (scope) => operation(verified(scope)),
  );
  return Object.assign(handler, { verifiesCaller: true as const });
}

/** A route anyone may call (health, the OpenAPI document, the not-found answer): CORS → body size → the operation. */
export function open<S extends PipelineServices>(
  operation: (scope: RequestScope<S>) => Promise<HttpResponseInit>,
): RouteHandler<S> {
  return pipeline<S>(({ cors }) => [cors, limitBodySize], operation);
}

/** The steps the services provide: those whose state lives beyond one request (origins, buckets). */
type SharedSteps = PipelineServices['steps'];

function pipeline<S extends PipelineServices>(
  stepsOf: (shared: SharedSteps) => readonly Step[],
  operation: (scope: RequestScope<S>) => Promise<HttpResponseInit>,
): RouteHandler<S> {
  return (request, context, state) => inRequestSpan(request, context, () => handle(request, context, state));

  async function handle(request: HttpRequest, context: InvocationContext, state: ServicesState<S>) {
    const started = performance.now();
    const log = requestLogger(context);
    if (!state.ready) {
      const response = withNoStore(
        problem({
          type: 'misconfigured',
          detail: 'The service is not configured correctly. Its operators can find the details in the logs.',
          invocationId: context.invocationId,
        }),
      );
      log(
        'error',
        requestLogLine({ ...lineOf(request, context, response, started), outcome: 'misconfigured' }),
      );
      return response;
    }

    const scope: RequestScope<S> = {
      request,
      context,
      services: state.services,
      acs: state.services.acsGateway.session(),
      log,
    };
    const response = withNoStore(await run(scope, stepsOf(state.services.steps), operation));
    const { ended, caller, acs } = scope;
    const line = requestLogLine({
      ...lineOf(request, context, response, started),
      outcome: ended?.outcome ?? outcomeOf(response),
      ...(ended?.reason ? { reason: ended.reason } : {}),
      ...(caller ? { caller } : {}),
      acs,
    });
    const status = response.status ?? 200;
    log(status >= 500 ? 'error' : status >= 400 ? 'warning' : 'information', line);
    return response;
  }
}

/** Runs the steps around the operation; an error thrown at any depth is answered there, as a problem. */
async function run<S extends PipelineServices>(
  scope: RequestScope<S>,
  steps: readonly Step[],
  operation: (scope: RequestScope<S>) => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  const at = async (index: number): Promise<HttpResponseInit> => {
    try {
      const step = steps[index];
      return step ? await step(scope, () => at(index + 1)) : await operation(scope);
    } catch (error) {
      return answer(scope, error);
    }
  };
  return at(0);
}

function answer(scope: RequestScope, error: unknown): HttpResponseInit {
  const { invocationId } = scope.context;
  const known = answerFor(error, scope.services.settings);
  if (known) {
    scope.ended = { outcome: known.outcome, ...(known.reason ? { reason: known.reason } : {}) };
    return problem({ ...known.problem, invocationId });
  }
  // The message may quote secrets or inputs; the stack frames below it do not.
  const frames = error instanceof Error ? error.stack?.split('\n').slice(1, 6).join('\n') : undefined;
  scope.log('error', { event: 'unexpected_error', name: (error as Error)?.name, frames });
  scope.ended = { outcome: 'internal_error' };
  return problem({ type: 'internal', detail: 'An unexpected error occurred.', invocationId });
}

function lineOf(
  request: HttpRequest,
  context: InvocationContext,
  response: HttpResponseInit,
  started: number,
) {
  return {
    invocationId: context.invocationId,
    route: context.functionName,
    method: request.method,
    response,
    latencyMs: performance.now() - started,
  };
}

const writers: Record<LogLevel, 'info' | 'warn' | 'error'> = {
  information: 'info',
  warning: 'warn',
  error: 'error',
};

/**
 * The request's one logger: the request line, audit lines and unexpected errors all go through it to the Functions
 * host's log (Application Insights `traces`), each carrying the request's invocation id.
 */
function requestLogger(context: InvocationContext): Logger {
  return (level, event) => {
    const traceId = activeTraceId();
    context[writers[level]](
      JSON.stringify({ ...event, invocationId: context.invocationId, ...(traceId ? { traceId } : {}) }),
    );
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
