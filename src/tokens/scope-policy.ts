import { z } from 'zod';
import { type AcsScope, acsScopeSchema } from '../acs/scopes.js';

/** The role every caller has, whatever its token says. */
export const EVERYONE_ROLE = '*';

const SCOPES_BY_ROLE_RULE = `must be a JSON object mapping each role (or "${EVERYONE_ROLE}") to a list of ACS scopes (${acsScopeSchema.options.join(', ')})`;

/**
 * TOKEN_SCOPES_BY_ROLE: `{"guest": ["chat.join.limited"], "*": ["chat", "voip"]}`. Parsed here so a bad value is
 * refused at start-up with a message that names the setting, not at the first request.
 */
export const scopesByRoleSchema = z.string().transform((value, ctx): Record<string, AcsScope[]> => {
  const refuse = (problem: string) => {
    ctx.addIssue({ code: 'custom', message: `${problem}; it ${SCOPES_BY_ROLE_RULE}`, input: undefined });
    return z.NEVER;
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return refuse('is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return refuse('is not a JSON object');
  const entries: [string, AcsScope[]][] = [];
  for (const [role, scopes] of Object.entries(parsed)) {
    if (role.trim() === '') return refuse('names an empty role');
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string')) {
      return refuse('maps a role to something other than a list of scopes');
    }
    if (!scopes.every((scope) => acsScopeSchema.safeParse(scope).success)) {
      return refuse('names a scope that is not an ACS scope');
    }
    entries.push([role, [...new Set(scopes as AcsScope[])]]);
  }
  // fromEntries defines own properties, so a role named "__proto__" stays a role.
  return Object.fromEntries(entries);
});

export type ScopesByRole = z.output<typeof scopesByRoleSchema>;

export interface ScopePolicy {
  allowedScopes: readonly AcsScope[];
  defaultScopes: readonly AcsScope[];
  /** Absent: every caller may have every allowed scope. */
  scopesByRole?: ScopesByRole | undefined;
}

/** What one caller may be issued: its roles' scopes (plus everyone's), never beyond TOKEN_ALLOWED_SCOPES. */
export function grantableScopes(policy: ScopePolicy, roles: readonly string[]): AcsScope[] {
  if (policy.scopesByRole === undefined) return [...policy.allowedScopes];
  const byRole = policy.scopesByRole;
  const granted = new Set(
    [EVERYONE_ROLE, ...roles].flatMap((role) => (Object.hasOwn(byRole, role) ? (byRole[role] ?? []) : [])),
  );
  return policy.allowedScopes.filter((scope) => granted.has(scope));
}

export type ScopeDecision =
  | { readonly granted: true; readonly scopes: readonly AcsScope[] }
  | { readonly granted: false; readonly refused: readonly AcsScope[] };

/**
 * The scopes to issue for a request. Asked-for scopes must all be grantable (else refused, and no ACS call is
 * made). With none asked for, the default scopes the caller may have are issued; when its roles allow none of the
 * defaults, everything its roles allow is, so a guest still gets its own default.
 */
export function decideScopes(
  policy: ScopePolicy,
  roles: readonly string[],
  requested: readonly AcsScope[] | undefined,
): ScopeDecision {
  const grantable = grantableScopes(policy, roles);
  if (requested !== undefined) {
    const refused = requested.filter((scope) => !grantable.includes(scope));
    return refused.length > 0 ? { granted: false, refused } : { granted: true, scopes: requested };
  }
  const defaults = policy.defaultScopes.filter((scope) => grantable.includes(scope));
  const scopes = defaults.length > 0 ? defaults : grantable;
  return scopes.length > 0
    ? { granted: true, scopes }
    : { granted: false, refused: [...policy.defaultScopes] };
}
