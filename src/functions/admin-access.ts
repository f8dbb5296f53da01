import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { type AuditAction, audit } from '../audit.js';
import { IssuerDirectory } from '../caller/issuers.js';
import { MAX_USER_ID_LENGTH } from '../caller/principal.js';
import { parseWith, readJsonBody } from '../http/body.js';
import { type AuthenticatedScope, authenticated, open, type RouteHandler } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import type { Settings } from '../settings.js';
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
  userId: z.string().min(1, 'must not be empty').meta({
    description: "The user claim's value, exactly as in the user's token (JSON escapes allowed).",
  }),
  issuer: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .meta({
      description:
        "The user's issuer as the service keys it: a configured issuer, or a tenant template's issuer with the " +
        "user's tenant in it (https://login.microsoftonline.com/<tenant-id>/v2.0). Default: the caller's own issuer.",
    }),
});

/** Where an admin route finds the user it acts on. */
export type SubjectSource = 'path' | 'body';

/** The user an admin names: the id, and the issuer when the body names one (else the admin's own). */
type NamedUser = { userId: string; issuer?: string | undefined };

interface RequestedUser {
  /** The user as sent, for auditing a refusal; never throws. */
  requested(): Promise<NamedUser>;
  /** The user once validated, or a 400 problem naming what is wrong. */
  validated(): Promise<NamedUser>;
}

function requestedUser(request: HttpRequest, source: SubjectSource): RequestedUser {
  if (source === 'path') {
    const userId = request.params.userId ?? '';
    return {
      requested: async () => ({ userId }),
      validated: async () => parseWith(userIdParamSchema, { userId }, 'path'),
    };
  }
  // The body can be read once: both answers come from this one read.
  const read = readJsonBody(request, adminUserBodySchema).then((body) => {
    if (body === undefined) {
      throw new ProblemError('invalid-request', 'Send the user id in a JSON body: {"userId": "..."}.', {
        errors: [{ name: 'body', reason: 'is required' }],
      });
    }
    return body;
  });
  const requested = read.catch(() => ({ userId: '' }));
  return { requested: () => requested, validated: () => read };
}

/**
 * Whether an issuer's users can be served here: one AUTH_MODE=jwt trusts (for a template, with an allowed tenant in
 * it). Behind Easy Auth the platform chose the providers, so any issuer the principal headers can carry is taken.
 */
function isKnownIssuer(auth: Settings['auth'], issuer: string): boolean {
  return auth.mode !== 'jwt' || new IssuerDirectory(auth.issuers).includes(issuer);
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
 * the JSON body's `userId` (`source` body), under the body's `issuer` or else the caller's own. Until
 * AUTH_ADMIN_ROLE is set, the route answers exactly as an unknown path does (404, before any authentication), so a
 * deployment without administrators exposes nothing. Once set, callers must be verified and hold that role in their
 * roles; anyone else gets 403, and the refusal is audited. A named issuer must be a configured one (400), and
 * AUTH_ADMIN_REACH=own-issuer refuses any but the caller's own (403, audited).
 */
export function adminRoute(
  action: AuditAction,
  source: SubjectSource,
  operation: (scope: AuthenticatedScope, subject: UserKey) => Promise<HttpResponseInit>,
): RouteHandler {
  const switchedOn = authenticated(async (scope) => {
    const { caller, services, request } = scope;
    const user = requestedUser(request, source);
    const { adminRole, adminReach, auth } = services.settings;
    const refuse = async (detail: string, reason: string): Promise<never> => {
      const { issuer = caller.issuer, userId } = await user.requested();
      audit(
        scope.log,
        { action, actorKind: 'admin', actor: caller, subject: { issuer, userId } },
        'forbidden',
      );
      throw new ProblemError('forbidden', detail, { reason });
    };
    if (caller.anonymous || adminRole === undefined || !caller.roles.includes(adminRole)) {
      return refuse('Only administrators may act on other users.', 'not_admin');
    }
    const { issuer = caller.issuer, userId } = await user.validated();
    if (issuer !== caller.issuer && !isKnownIssuer(auth, issuer)) {
      throw new ProblemError('invalid-request', 'The body names an issuer this service does not trust.', {
        errors: [{ name: 'issuer', reason: 'is not a configured issuer (see AUTH_ISSUERS)' }],
      });
    }
    if (issuer !== caller.issuer && adminReach === 'own-issuer') {
      return refuse(
        'AUTH_ADMIN_REACH lets administrators act on users of their own issuer only.',
        'other_issuer',
      );
    }
    return operation(scope, { issuer, userId });
  });
  const route: RouteHandler = (request, context, state) =>
    !isAdminArea(request.params.area) || (state.ready && state.services.settings.adminRole === undefined)
      ? noSuchRoute(request, context, state)
      : switchedOn(request, context, state);
  // Switched on, the route verifies its caller: the OpenAPI document declares its bearer security and 401.
  return Object.assign(route, { verifiesCaller: switchedOn.verifiesCaller });
}

/**
 * A path cannot name every user: URL normalisation removes the dot segments `.` and `..`, a lone surrogate has no
 * UTF-8 form to percent-encode, and the path carries at most 1,024 characters. The body routes can.
 */
export const PATH_IDS_NOTE =
  'Ids a path cannot carry (`.`, `..`, lone surrogates, over 1,024 characters) go to the body form ' +
  '(POST /admin/revoke-user, POST /admin/delete-user).';
