import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { type AuditAction, audit } from '../audit.js';
import { MAX_USER_ID_LENGTH } from '../caller/principal.js';
import { parseWith, readJsonBody } from '../http/body.js';
import {
  type AuthenticatedScope,
  authenticated,
  open,
  type RouteHandler,
  type Step,
} from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import { NO_SUCH_ROUTE } from './not-found.js';

/** The admin routes' parameters: `area` is always `admin` (see ADMIN_AREA); `userId` is the user claim's value. */
export const adminUserParamsSchema = z.object({
  area: z.literal('admin'),
  userId: z
    .string()
    .refine((value) => value.trim().length > 0, 'must not be empty')
    .refine(
      (value) => value.length <= MAX_USER_ID_LENGTH,
      `must be at most ${MAX_USER_ID_LENGTH} characters`,
    ),
});
const userIdParamSchema = adminUserParamsSchema.pick({ userId: true });
/** The parameters of the admin routes that take the user id in the body. */
export const adminAreaParamsSchema = adminUserParamsSchema.pick({ area: true });

/**
 * The body of the admin routes that take the user id in JSON. Any non-empty string: a JSON string carries what a
 * path cannot (`.` and `..`, which URL normalisation removes; lone surrogates, as `\uD800` escapes; ids over the
 * path limit), and users whose ids the token path refuses today (blank, over MAX_USER_ID_LENGTH) may have been
 * served before, so an admin can still erase them.
 */
export const adminUserBodySchema = z.strictObject({
  userId: z.string().min(1).meta({
    description:
      "The user claim's value under the caller's issuer, exactly as in the user's token (JSON escapes allowed).",
  }),
});

/** Where an admin route finds the user it acts on. */
export type SubjectSource = 'path' | 'body';

interface RequestedUser {
  /** The user id as sent, for auditing a refusal; never throws. */
  requested(): Promise<string>;
  /** The user id once validated, or a 400 problem naming what is wrong. */
  validated(): Promise<string>;
}

function requestedUser(request: HttpRequest, source: SubjectSource): RequestedUser {
  if (source === 'path') {
    const userId = request.params.userId ?? '';
    return {
      requested: async () => userId,
      validated: async () => parseWith(userIdParamSchema, { userId }, 'path').userId,
    };
  }
  // The body can be read once: both answers come from this one read.
  const read = readJsonBody(request, adminUserBodySchema).then((body) => {
    if (body === undefined) {
      throw new ProblemError('invalid-request', 'Send the user id in a JSON body: {"userId": "..."}.', {
        errors: [{ name: 'body', reason: 'is required' }],
      });
    }
    return body.userId;
  });
  const requested = read.catch(() => '');
  return { requested: () => requested, validated: () => read };
}

const noSuchRoute = open(async () => {
  throw new ProblemError('not-found', NO_SUCH_ROUTE);
});

/**
 * The first segment of the admin routes is a parameter that must read `admin`: the Functions host refuses to
 * register any route template that starts with the literal `admin` (its own management API lives at /admin),
 * whatever the routePrefix, so `admin/users/{userId}` would fail at start-up in Azure.
 */
export const ADMIN_AREA = '{area}';
const isAdminArea = (area: string | undefined) => area?.toLowerCase() === 'admin';

/**
 * An administration route for `action` on the user named by the `{userId}` route parameter (`source` path) or by
 * the JSON body's `userId` (`source` body), under the caller's own issuer. Until AUTH_ADMIN_ROLE is set, the route answers exactly as an unknown path does (404, before any
 * authentication), so a deployment without administrators exposes nothing. Once set, callers must be verified and
 * hold that role in their `roles`; anyone else gets 403, and the refusal is audited.
 */
export function adminRoute(
  action: AuditAction,
  source: SubjectSource,
  operation: (scope: AuthenticatedScope, subject: UserKey) => Promise<HttpResponseInit>,
): RouteHandler {
  const switchedOn = authenticated(
    async (scope) => {
      const { caller, services, request } = scope;
      const user = requestedUser(request, source);
      const adminRole = services.settings.adminRole;
      if (caller.anonymous || adminRole === undefined || !caller.roles.includes(adminRole)) {
        const subject = { issuer: caller.issuer, userId: await user.requested() };
        audit(scope.log, { action, actorKind: 'admin', actor: caller, subject }, 'forbidden');
        throw new ProblemError('forbidden', 'Only administrators may act on other users.', {
          reason: 'not_admin',
        });
      }
      return operation(scope, { issuer: caller.issuer, userId: await user.validated() });
    },
    [auditRefusals(action, source)],
  );
  const route: RouteHandler = (request, context, state) =>
    !isAdminArea(request.params.area) || (state.ready && state.services.settings.adminRole === undefined)
      ? noSuchRoute(request, context, state)
      : switchedOn(request, context, state);
  // Switched on, the route verifies its caller: the OpenAPI document declares its bearer security and 401.
  return Object.assign(route, { verifiesCaller: switchedOn.verifiesCaller });
}

/** The audit reasons of admin requests refused before the action: invalid (400), over the per-user limit (429). */
const refusalReasons: Record<number, string> = { 400: 'invalid_request', 429: 'rate_limited' };

/**
 * Audits an admin request the service refuses after verifying the caller but before acting: a 400 (the user id or
 * body is invalid) or a 429 (the per-user limit, which runs after this step). An administrator cycling requests
 * that are turned away thus leaves a trail too. The subject is the user id as sent, when it can still be read.
 */
function auditRefusals(action: AuditAction, source: SubjectSource): Step {
  return async (scope, next) => {
    const response = await next();
    const reason = refusalReasons[response.status ?? 200];
    const { caller, request } = scope;
    if (reason === undefined || caller === undefined) return response;
    // A 400 read the body already; a 429 came before anyone read it.
    const userId =
      source === 'path' || request.bodyUsed
        ? (request.params.userId ?? '')
        : await requestedUser(request, source).requested();
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
 * A path cannot name every user: URL normalisation removes the dot segments `.` and `..`, a lone surrogate has no
 * UTF-8 form to percent-encode, and the path carries at most 1,024 characters. The body routes can.
 */
export const PATH_IDS_NOTE =
  'Ids a path cannot carry (`.`, `..`, lone surrogates, over 1,024 characters) go to the body form ' +
  '(POST /admin/revoke-user, POST /admin/delete-user).';
