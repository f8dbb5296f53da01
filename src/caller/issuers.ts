/** Where an AUTH_ISSUERS issuer (or its jwksUri) carries the token's tenant: Entra's multi-tenant issuer form. */
export const TENANT_PLACEHOLDER = '{tenantid}';
/** `"tenants": ["*"]`: any tenant, said explicitly (logged as a warning at start-up). */
export const ANY_TENANT = '*';
/** An Entra tenant id (`tid`): a GUID. */
export const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An issuer AUTH_MODE=jwt trusts (an AUTH_ISSUERS entry, or AUTH_ISSUER), with its user claim resolved. The settings
 * schema (src/settings.ts) validates each entry; the composition root hands them over as they are.
 */
export interface TrustedIssuer {
  /** The exact `iss`, or a template with TENANT_PLACEHOLDER once in its path. */
  readonly issuer: string;
  /** A token of this issuer must name one of them in `aud`. */
  readonly audiences: readonly string[];
  /** Default: OpenID discovery at `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUri?: string | undefined;
  readonly userClaim: string;
  /** The claim holding the caller's roles. Default: `roles`. */
  readonly rolesClaim?: string | undefined;
  /** For a template issuer: the allowed tenant ids (lower case), or ANY_TENANT. */
  readonly tenants?: string | readonly string[] | undefined;
}

/** Why a token's `iss` and `tid` name no trusted issuer; for logs only, the client gets a plain 401. */
export type IssuerRefusal =
  | 'issuer_not_trusted'
  | 'tenant_missing'
  | 'tenant_not_allowed'
  | 'issuer_tenant_mismatch';

/** The trusted issuer a token belongs to: `issuer` is the concrete one (a template's with the tenant filled in). */
export interface IssuerMatch {
  entry: TrustedIssuer;
  issuer: string;
  /** The key set's URL for this issuer (a template's with the tenant filled in); absent: OpenID discovery. */
  jwksUri: string | undefined;
}

interface Template {
  entry: TrustedIssuer;
  /** The template with any tenant in it: tells a tenant mismatch from an issuer nobody configured. */
  pattern: RegExp;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Which configured issuer vouches for a token, from its `iss` and `tid`. A plain issuer must equal `iss`. A template
 * (`https://login.microsoftonline.com/{tenantid}/v2.0`) must equal `iss` once the token's own `tid` is put in it, and
 * that tenant must be allowed, so a token can never borrow another tenant's issuer. The concrete issuer is the one
 * users are keyed by: one object id in two tenants is two users.
 */
export class IssuerDirectory {
  readonly #plain = new Map<string, TrustedIssuer>();
  readonly #templates: Template[] = [];

  constructor(entries: readonly TrustedIssuer[]) {
    for (const entry of entries) {
      if (!entry.issuer.includes(TENANT_PLACEHOLDER)) {
        this.#plain.set(entry.issuer, entry);
        continue;
      }
      const [before = '', after = ''] = entry.issuer.split(TENANT_PLACEHOLDER);
      this.#templates.push({
        entry,
        pattern: new RegExp(`^${escapeRegExp(before)}([^/?#]+)${escapeRegExp(after)}$`),
      });
    }
  }

  /** The issuer a token with these (unverified) claims must be verified against, or why there is none. */
  match(iss: unknown, tid: unknown): IssuerMatch | IssuerRefusal {
    if (typeof iss !== 'string') return 'issuer_not_trusted';
    const plain = this.#plain.get(iss);
    if (plain !== undefined) return { entry: plain, issuer: iss, jwksUri: plain.jwksUri };
    const template = this.#templates.find(({ pattern }) => pattern.test(iss));
    if (template === undefined) return 'issuer_not_trusted';
    if (typeof tid !== 'string' || tid.length === 0) return 'tenant_missing';
    if (template.entry.issuer.replace(TENANT_PLACEHOLDER, tid) !== iss) return 'issuer_tenant_mismatch';
    if (!tenantAllowed(template.entry, tid)) return 'tenant_not_allowed';
    return {
      entry: template.entry,
      issuer: iss,
      jwksUri: template.entry.jwksUri?.replace(TENANT_PLACEHOLDER, tid),
    };
  }

  /**
   * Whether users keyed under `issuer` can come from a configured issuer: a plain one, or a template's with an
   * allowed tenant in it. The admin routes take only such issuers.
   */
  includes(issuer: string): boolean {
    if (this.#plain.has(issuer)) return true;
    return this.#templates.some(({ entry, pattern }) => {
      const tenant = pattern.exec(issuer)?.[1];
      return tenant !== undefined && tenantAllowed(entry, tenant);
    });
  }
}

/** Listed tenants are GUIDs; "any tenant" still means any tenant id, never any string put into the issuer's path. */
function tenantAllowed(entry: TrustedIssuer, tenant: string): boolean {
  if (entry.tenants === ANY_TENANT) return TENANT_ID.test(tenant);
  return (entry.tenants ?? []).includes(tenant.toLowerCase());
}

/** The template issuers that let any tenant in (`"tenants": ["*"]`): said explicitly, and warned about at start-up. */
export function anyTenantIssuers(issuers: readonly TrustedIssuer[]): string[] {
  return issuers.filter((entry) => entry.tenants === ANY_TENANT).map((entry) => entry.issuer);
}
