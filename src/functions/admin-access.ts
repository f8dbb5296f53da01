import { z } from 'zod';
import type { UserScope } from '../app-services.js';
import { MAX_USER_ID_LENGTH } from '../caller/principal.js';
import type { UserKey } from '../identities/identity-store.js';

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
  userId: z.string().min(1).meta({
    description:
      "The user claim's value under the caller's issuer, exactly as in the user's token (JSON escapes allowed).",
  }),
});

/** The refusal an admin body route gives an empty body. */
export const MISSING_USER_BODY = {
  detail: 'Send the user id in a JSON body: {"userId": "..."}.',
  field: 'body',
};

/**
 * The first segment of the admin routes is a parameter that must read `admin` (the gate of src/http/define-route.ts
 * checks it): the Functions host refuses to register any route template that starts with the literal `admin` (its
 * own management API lives at /admin), whatever the routePrefix, so `admin/users/{userId}` would fail at start-up in
 * Azure.
 */
export const ADMIN_AREA = '{area}';

/** The user an admin route acts on: named in the path or in the body, always under the caller's own issuer. */
export function adminSubject(
  { caller }: UserScope,
  inputs: {
    readonly params?: { readonly area?: string; readonly userId?: string } | undefined;
    readonly body?: { userId: string } | undefined;
  },
): UserKey {
  return { issuer: caller.issuer, userId: inputs.body?.userId ?? inputs.params?.userId ?? '' };
}

/**
 * A path cannot name every user: URL normalisation removes the dot segments `.` and `..`, a lone surrogate has no
 * UTF-8 form to percent-encode, and the path carries at most 1,024 characters. The body routes can.
 */
export const PATH_IDS_NOTE =
  'Ids a path cannot carry (`.`, `..`, lone surrogates, over 1,024 characters) go to the body form ' +
  '(POST /admin/revoke-user, POST /admin/delete-user).';
