import { z } from 'zod';
import { AuthenticationError } from '../shared/errors.js';

/** The verified caller. `issuer` + `userId` identify the application user whose ACS identity is served. */
export const principalSchema = z.object({
  issuer: z.string().min(1),
  userId: z.string().min(1),
  roles: z.array(z.string()).default([]),
  /** Delegated scopes (the `scp` claim, space separated in the token). */
  scopes: z.array(z.string()).default([]),
  /** The Entra object id when the token carries one (Teams exchange needs it). */
  oid: z.string().min(1).optional(),
  /** True in AUTH_MODE=anonymous: nobody was verified, so nothing may be stored for this caller. */
  anonymous: z.boolean().default(false),
});
export type Principal = z.output<typeof principalSchema>;

/**
 * The longest user id served. Real ids (an Entra oid, an OpenID `sub`, an e-mail address) are far shorter; a longer
 * one is a mistake or an attack, and the admin routes could not name it in a path.
 */
export const MAX_USER_ID_LENGTH = 1024;

/**
 * The user claim's value as a user id, or an AuthenticationError: a blank id (only whitespace) would be one user
 * shared by every token whose claim is blank, and one over MAX_USER_ID_LENGTH is refused (see above). Both are
 * refused as callers, before any ACS call.
 */
export function userIdFromClaim(value: string | undefined): string {
  if (value === undefined || value.length === 0) throw new AuthenticationError('user_claim_missing', true);
  if (value.trim().length === 0) throw new AuthenticationError('user_claim_blank', true);
  if (value.length > MAX_USER_ID_LENGTH) throw new AuthenticationError('user_claim_too_long', true);
  return value;
}

/** Decides who is calling, or throws AuthenticationError. */
export interface CallerValidator {
  authenticate(headers: Headers): Promise<Principal>;
}

/** Whether a required scope appears in the delegated scopes or the application roles. */
export function hasRequiredScope(principal: Principal, requiredScope: string | undefined): boolean {
  return (
    requiredScope === undefined ||
    principal.scopes.includes(requiredScope) ||
    principal.roles.includes(requiredScope)
  );
}
