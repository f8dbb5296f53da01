import type { HttpMethod, HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';
import { type AuditAction, audit } from '../audit.js';
import type { RouteDocs } from '../openapi/route-docs.js';
import { parseWith, readJsonBody } from './body.js';
import {
  type AuthenticatedScope,
  authenticated,
  open,
  type PipelineServices,
  type RequestScope,
  type RouteHandler,
  type Step,
  verified,
} from './pipeline.js';
import { ProblemError } from './problem.js';
import type { RouteDefinition } from './route-table.js';

/** What an unknown path answers; routes that are switched off answer the same, so they cannot be told apart. */
export const NO_SUCH_ROUTE = 'No such route. See the API documentation.';

/**
 * Who may call a route: anyone (`open`), a verified caller (`user`), or a verified caller holding AUTH_ADMIN_ROLE
 * (`admin`, acting on another user: `audit` names the action its refusals are audited as).
 */
export type Access = 'open' | 'user' | { readonly admin: AuditAction };

/** The settings the admin gate reads: AUTH_ADMIN_ROLE (absent: the admin routes are off). */
interface AdminSettings {
  readonly settings: { readonly adminRole?: string | undefined };
}

/** A JSON body: `missing` is the problem an empty body gets; without it an empty body is allowed. */
export interface BodyInput<Schema extends z.ZodType> {
  readonly schema: Schema;
  readonly missing?: { readonly detail: string; readonly field: string };
}

/**
 * What a route reads, each validated by the pipeline before the operation runs: the query string on GET, HEAD and
 * DELETE, the JSON body on POST, PUT and PATCH, the route template's parameters always.
 */
export interface RouteInputs<Query extends z.ZodType, Body extends z.ZodType, Params extends z.ZodType> {
  readonly query?: Query;
  readonly body?: BodyInput<Body>;
  readonly params?: Params;
}

/** The validated inputs an operation receives; `query` and `body` are undefined where the method has none. */
export interface Inputs<Query extends z.ZodType, Body extends z.ZodType, Params extends z.ZodType> {
  readonly query: z.output<Query> | undefined;
  readonly body: z.output<Body> | undefined;
  readonly params: z.output<Params> | undefined;
}

/** What a route without a given input declares in its place. */
type None = z.ZodUndefined;

/** The scope an operation of the given access sees: a verified caller unless the route is open. */
type ScopeOf<S extends PipelineServices, A extends Access> = A extends 'open'
  ? RequestScope<S>
  : AuthenticatedScope<S>;

/** One route, as its file in src/functions/ declares it: the pipeline and the OpenAPI document both read it. */
export interface RouteSpec<
  S extends PipelineServices,
  A extends Access,
  Query extends z.ZodType,
  Body extends z.ZodType,
  Params extends z.ZodType,
> {
  /** The function name in Azure (unique, letters and digits). */
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** The route template below the `api/` prefix (host.json routePrefix). */
  readonly route: string;
  readonly access: A;
  readonly inputs?: RouteInputs<Query, Body, Params>;
  /** Checked after access, before the inputs: a route switched off by a setting answers here (e.g. 404). */
  readonly available?: (scope: ScopeOf<S, A>) => void;
  /** The route's entry in GET /api/openapi.json; its inputs come from `inputs`. */
  readonly docs: Omit<RouteDocs, 'query' | 'body' | 'params'>;
  readonly operation: (
    scope: ScopeOf<S, A>,
    inputs: Inputs<Query, Body, Params>,
  ) => Promise<HttpResponseInit>;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** The query parameters a schema names, each at most once (a repeated one is ambiguous: refused, not guessed). */
function readQuery(query: URLSearchParams, schema: z.ZodObject) {
  const input: Record<string, string> = {};
  const repeated: string[] = [];
  for (const name of Object.keys(schema.shape)) {
    const values = query.getAll(name);
    if (values.length > 1) repeated.push(name);
    if (values[0] !== undefined) input[name] = values[0];
  }
  if (repeated.length > 0) {
    throw new ProblemError('invalid-request', 'A query parameter appears more than once.', {
      errors: repeated.map((name) => ({ name, reason: 'must appear at most once' })),
    });
  }
  return parseWith(schema, input, 'query');
}

/** Reads the request's inputs once: the admin gate may look at the body's raw user id before they are validated. */
function inputReader(request: HttpRequest, inputs: AnyInputs = {}, gateOwnsArea = false) {
  const hasBody = BODY_METHODS.has(request.method.toUpperCase());
  let body: Promise<unknown> | undefined;
  const readBody = () => {
    body ??= inputs.body ? readJsonBody(request, inputs.body.schema) : Promise.resolve(undefined);
    return body;
  };
  return {
    /** The user id the caller named (path or body), as sent, for auditing a refusal; never throws. */
    async requestedUserId(): Promise<string> {
      if (!inputs.body) return request.params.userId ?? '';
      const read = (await readBody().catch(() => undefined)) as { userId?: string } | undefined;
      return read?.userId ?? '';
    },
    async validated(): Promise<Inputs<z.ZodType, z.ZodType, z.ZodType>> {
      // The admin gate has checked `area` already, as the host matches it: case-insensitively.
      const paramsSchema = gateOwnsArea ? inputs.params?.omit({ area: true }) : inputs.params;
      const params = paramsSchema ? parseWith(paramsSchema, { ...request.params }, 'path') : undefined;
      const query = inputs.query && !hasBody ? readQuery(request.query, inputs.query) : undefined;
      const read = inputs.body && hasBody ? await readBody() : undefined;
      const missing = inputs.body?.missing;
      if (read === undefined && missing && hasBody) {
        throw new ProblemError('invalid-request', missing.detail, {
          errors: [{ name: missing.field, reason: 'is required' }],
        });
      }
      return { params, query, body: read };
    },
  };
}

const isAdminArea = (area: string | undefined) => area?.toLowerCase() === 'admin';

const noSuchRoute = open(async () => {
  throw new ProblemError('not-found', NO_SUCH_ROUTE);
});

/**
 * The admin gate. Until AUTH_ADMIN_ROLE is set, the route answers exactly as an unknown path does (404, before any
 * authentication), so a deployment without administrators exposes nothing; so does a first segment other than
 * `admin` (see ADMIN_AREA). Once set, callers must be verified and hold that role in their `roles`; anyone else gets
 * 403, and the refusal is audited with the user id they named.
 */
function adminGate<S extends PipelineServices & AdminSettings>(switchedOn: RouteHandler<S>): RouteHandler<S> {
  const route: RouteHandler<S> = (request, context, state) =>
    !isAdminArea(request.params.area) || (state.ready && state.services.settings.adminRole === undefined)
      ? noSuchRoute(request, context, state)
      : switchedOn(request, context, state);
  // Switched on, the route verifies its caller: the OpenAPI document declares its bearer security and 401.
  return Object.assign(route, { verifiesCaller: switchedOn.verifiesCaller });
}

async function refuseNonAdmin<S extends PipelineServices & AdminSettings>(
  scope: AuthenticatedScope<S>,
  action: AuditAction,
  requested: () => Promise<string>,
): Promise<void> {
  const { caller, services } = scope;
  const adminRole = services.settings.adminRole;
  if (caller.anonymous || adminRole === undefined || !caller.roles.includes(adminRole)) {
    const subject = { issuer: caller.issuer, userId: await requested() };
    audit(scope.log, { action, actorKind: 'admin', actor: caller, subject }, 'forbidden');
    throw new ProblemError('forbidden', 'Only administrators may act on other users.', {
      reason: 'not_admin',
    });
  }
}

/** The audit reasons of admin requests refused before the action: invalid (400), over the per-user limit (429). */
const refusalReasons: Record<number, string> = { 400: 'invalid_request', 429: 'rate_limited' };

/**
 * Audits an admin request the service refuses after verifying the caller but before acting: a 400 (the user id or
 * body is invalid) or a 429 (the per-user limit, which runs after this step). An administrator cycling requests
 * that are turned away thus leaves a trail too. The subject is the user id as sent, when it can still be read.
 */
function auditAdminRefusals(action: AuditAction, inputs: AnyInputs | undefined): Step {
  return async (scope, next) => {
    const response = await next();
    const reason = refusalReasons[response.status ?? 200];
    const { caller, request } = scope;
    if (reason === undefined || caller === undefined) return response;
    // A 400 read the body already; a 429 came before anyone read it.
    const userId = request.bodyUsed
      ? (request.params.userId ?? '')
      : await inputReader(request, inputs, true).requestedUserId();
    audit(
      scope.log,
      { action, actorKind: 'admin', actor: caller, subject: { issuer: caller.issuer, userId } },
      'refused',
      reason,
    );
    return response;
  };
}

/**
 * `defineRoute` for the services `S` the operations see (src/app-services.ts binds it): a route of the table from
 * its declaration. The pipeline for its access (src/http/pipeline.ts), then the admin check, `available`, and the
 * inputs validated with their zod schemas run before the operation; the OpenAPI docs get the same schemas.
 */
export function routeDefiner<S extends PipelineServices & AdminSettings>() {
  return <
    A extends Access,
    Query extends z.ZodType = None,
    Body extends z.ZodType = None,
    Params extends z.ZodType = None,
  >(
    spec: RouteSpec<S, A, Query, Body, Params>,
  ): RouteDefinition<S> =>
    defineRoute<S>(spec as unknown as RouteSpec<S, Access, z.ZodType, z.ZodType, z.ZodType>);
}

/** The query and parameters are objects (each field one name); a body may be any schema. */
type AnyInputs = RouteInputs<z.ZodObject, z.ZodType, z.ZodObject>;

function defineRoute<S extends PipelineServices & AdminSettings>(
  spec: RouteSpec<S, Access, z.ZodType, z.ZodType, z.ZodType>,
): RouteDefinition<S> {
  const inputs = spec.inputs as AnyInputs | undefined;
  const available = spec.available as ((scope: RequestScope<S>) => void) | undefined;
  const operation = spec.operation as (
    scope: RequestScope<S>,
    inputs: Inputs<z.ZodType, z.ZodType, z.ZodType>,
  ) => Promise<HttpResponseInit>;
  const { access } = spec;

  const run = async (scope: RequestScope<S>) => {
    const reader = inputReader(scope.request, inputs, typeof access === 'object');
    if (typeof access === 'object') {
      await refuseNonAdmin(verified(scope), access.admin, () => reader.requestedUserId());
    }
    available?.(scope);
    return operation(scope, await reader.validated());
  };
  const handler =
    access === 'open'
      ? open<S>(run)
      : access === 'user'
        ? authenticated<S>(run)
        : adminGate<S>(authenticated<S>(run, [auditAdminRefusals(access.admin, inputs)]));

  return {
    name: spec.name,
    methods: spec.methods,
    route: spec.route,
    authLevel: 'anonymous',
    handler,
    docs: {
      ...spec.docs,
      ...(inputs?.params ? { params: inputs.params } : {}),
      ...(inputs?.query ? { query: inputs.query } : {}),
      ...(inputs?.body
        ? { body: { schema: inputs.body.schema, required: inputs.body.missing !== undefined } }
        : {}),
    },
  };
}
