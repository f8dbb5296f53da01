import { z } from 'zod';
import type { UserScope } from '../app-services.js';
import { type AuditAction, audit } from '../audit.js';
import { IssuerDirectory } from '../caller/issuers.js';
import { MAX_USER_ID_LENGTH } from '../caller/principal.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import type { Settings } from '../settings.js';

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

/** The refusal an admin body route gives an empty body. */
export const MISSING_USER_BODY = {
  detail: 'Send the user id in a JSON body: {"userId": "..."}.',
  field: 'body',
};

/**
 * Whether an issuer's users can be served here: one AUTH_MODE=jwt trusts (for a template, with an allowed tenant in
 * it). Behind Easy Auth the platform chose the providers, so any issuer the principal headers can carry is taken.
 */
function isKnownIssuer(auth: Settings['auth'], issuer: string): boolean {
  return auth.mode !== 'jwt' || new IssuerDirectory(auth.issuers).includes(issuer);
}

/**
 * The first segment of the admin routes is a parameter that must read `admin` (the gate of src/http/define-route.ts
 * checks it): the Functions host refuses to register any route template that starts with the literal `admin` (its
 * own management API lives at /admin), whatever the routePrefix, so `admin/users/{userId}` would fail at start-up in
 * Azure.
 */
export const ADMIN_AREA = '{area}';

/**
 * The user an admin route acts on: named in the path or in the body, under the body's `issuer` or else the caller's
 * own. A named issuer must be a configured one (400), and AUTH_ADMIN_REACH=own-issuer refuses any but the caller's
 * own (403, audited as `action`).
 */
export function adminSubject(
  { caller, services, log }: UserScope,
  action: AuditAction,
  inputs: {
    readonly params?: { readonly area?: string; readonly userId?: string } | undefined;
    readonly body?: { userId: string; issuer?: string | undefined } | undefined;
  },
): UserKey {
  const userId = inputs.body?.userId ?? inputs.params?.userId ?? '';
  const issuer = inputs.body?.issuer ?? caller.issuer;
  if (issuer === caller.issuer) return { issuer, userId };
  if (!isKnownIssuer(services.settings.auth, issuer)) {
    throw new ProblemError('invalid-request', 'The body names an issuer this service does not trust.', {
      errors: [{ name: 'issuer', reason: 'is not a configured issuer (see AUTH_ISSUERS)' }],
    });
  }
  if (services.settings.adminReach === 'own-issuer') {
    audit(log, { action, actorKind: 'admin', actor: caller, subject: { issuer, userId } }, 'forbidden');
    throw new ProblemError(
      'forbidden',
      'AUTH_ADMIN_REACH lets administrators act on users of their own issuer only.',
      { reason: 'other_issuer' },
    );
  }
  return { issuer, userId };
}

/**
 * A path cannot name every user: URL normalisation removes the dot segments `.` and `..`, a lone surrogate has no
 * UTF-8 form to percent-encode, and the path carries at most 1,024 characters. The body routes can.
 */
export const PATH_IDS_NOTE =
  'Ids a path cannot carry (`.`, `..`, lone surrogates, over 1,024 characters) go to the body form ' +
  '(POST /admin/revoke-user, POST /admin/delete-user).';
