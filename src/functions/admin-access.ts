import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { type AuditAction, audit } from '../audit.js';
import { parseWith } from '../http/body.js';
import { type AuthenticatedScope, authenticated, open, type RouteHandler } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import { NO_SUCH_ROUTE } from './not-found.js';

/** Real user ids (an Entra oid, an OpenID `sub`) are far shorter; a longer one is a mistake or an attack. */
const MAX_USER_ID_LENGTH = 1024;

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
 * An administration route for `action` on the user named by the `{userId}` route parameter, under the caller's
 * own issuer. Until AUTH_ADMIN_ROLE is set, the route answers exactly as an unknown path does (404, before any
 * authentication), so a deployment without administrators exposes nothing. Once set, callers must be verified and
 * hold that role in their `roles`; anyone else gets 403, and the refusal is audited.
 */
export function adminRoute(
  action: AuditAction,
  operation: (scope: AuthenticatedScope, subject: UserKey) => Promise<HttpResponseInit>,
): RouteHandler {
  const switchedOn = authenticated(async (scope) => {
    const { caller, services, request, context } = scope;
    const requested = request.params.userId ?? '';
    const adminRole = services.settings.adminRole;
    if (caller.anonymous || adminRole === undefined || !caller.roles.includes(adminRole)) {
      const subject = { issuer: caller.issuer, userId: requested };
      audit(
        services.log,
        { action, actorKind: 'admin', actor: caller, subject, invocationId: context.invocationId },
        'forbidden',
      );
      throw new ProblemError('forbidden', 'Only administrators may act on other users.', {
        reason: 'not_admin',
      });
    }
    const { userId } = parseWith(userIdParamSchema, { userId: requested }, 'path');
    return operation(scope, { issuer: caller.issuer, userId });
  });
  const route: RouteHandler = (request, context, state) =>
    !isAdminArea(request.params.area) || (state.ready && state.services.settings.adminRole === undefined)
      ? noSuchRoute(request, context, state)
      : switchedOn(request, context, state);
  // Switched on, the route verifies its caller: the OpenAPI document declares its bearer security and 401.
  return Object.assign(route, { verifiesCaller: switchedOn.verifiesCaller });
}
