import { z } from 'zod';
import { AuthenticationError } from '../shared/errors.js';
import { type CallerValidator, type Principal, principalSchema, userIdFromClaim } from './principal.js';

const OBJECT_ID_CLAIM = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const SCOPE_CLAIM = 'http://schemas.microsoft.com/identity/claims/scope';
const ROLE_CLAIM = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';
const TENANT_ID_CLAIM = 'http://schemas.microsoft.com/identity/claims/tenantid';

/** Entra's issuer forms for one tenant: v1 tokens' `https://sts.windows.net/{tid}/`, v2 tokens' below. */
const ENTRA_ISSUER_FORMS = [
  /^https:\/\/sts\.windows\.net\/([^/]+)\/$/,
  /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0\/?$/,
];

/** The v2 issuer of an Entra tenant: what AUTH_ISSUERS' Entra template keys that tenant's users by. */
export const entraIssuerOf = (tenant: string) =>
  `https://login.microsoftonline.com/${tenant.toLowerCase()}/v2.0`;

function entraTenantIn(issuer: string | undefined): string | undefined {
  if (issuer === undefined) return undefined;
  for (const form of ENTRA_ISSUER_FORMS) {
    const tenant = form.exec(issuer)?.[1];
    if (tenant !== undefined) return tenant;
  }
  return undefined;
}

/**
 * The issuer a principal's user is keyed by. An Entra user (a tenant id in `tid`, or an Entra issuer) is keyed by
 * its tenant's v2 issuer whether the principal carried a v1 `iss`, a v2 `iss` or none, so one user is one user (and
 * the same key the Entra template of AUTH_ISSUERS gives). Other providers: `iss`, else the provider's name.
 */
function keyIssuer(iss: string | undefined, tid: string | undefined, provider: string | undefined): string {
  const issuerTenant = entraTenantIn(iss);
  if (tid !== undefined && issuerTenant !== undefined && tid.toLowerCase() !== issuerTenant.toLowerCase()) {
    throw new AuthenticationError('issuer_tenant_mismatch', true);
  }
  const tenant = issuerTenant ?? (iss === undefined ? tid : undefined);
  if (tenant !== undefined) return entraIssuerOf(tenant);
  const issuer = iss ?? provider;
  if (!issuer) throw new AuthenticationError('issuer_missing', true);
  return issuer;
}

/** The App Service Authentication principal: base64 JSON in `x-ms-client-principal`. */
const clientPrincipalSchema = z.object({
  auth_typ: z.string().optional(),
  claims: z.array(z.object({ typ: z.string(), val: z.string() })),
  name_typ: z.string().optional(),
  role_typ: z.string().optional(),
});

function decodePrincipal(header: string) {
  try {
    return clientPrincipalSchema.parse(JSON.parse(Buffer.from(header, 'base64').toString('utf8')));
  } catch {
    throw new AuthenticationError('malformed_client_principal', true);
  }
}

export interface EasyAuthConfig {
  userClaim: string;
}

/**
 * AUTH_MODE=easyauth: the platform verified the caller and forwards who it is. Settings allow this mode only when
 * App Service Authentication is on (WEBSITE_AUTH_ENABLED), because otherwise anyone can send these headers.
 */
export function createEasyAuthValidator(config: EasyAuthConfig): CallerValidator {
  const userClaimTypes = config.userClaim === 'oid' ? ['oid', OBJECT_ID_CLAIM] : [config.userClaim];
  return {
    async authenticate(headers): Promise<Principal> {
      const header = headers.get('x-ms-client-principal');
      if (header === null) throw new AuthenticationError('no_client_principal', false);
      const principal = decodePrincipal(header);
      const values = (types: readonly string[]) =>
        principal.claims.filter(({ typ }) => types.includes(typ)).map(({ val }) => val);

      const userId = userIdFromClaim(values(userClaimTypes)[0]);
      const issuer = keyIssuer(
        values(['iss'])[0],
        values(['tid', TENANT_ID_CLAIM])[0],
        headers.get('x-ms-client-principal-idp') ?? principal.auth_typ,
      );
      const roleTypes = ['roles', ROLE_CLAIM, ...(principal.role_typ ? [principal.role_typ] : [])];
      return principalSchema.parse({
        issuer,
        userId,
        roles: [...new Set(values(roleTypes))],
        scopes: values(['scp', SCOPE_CLAIM]).flatMap((scope) => scope.split(' ').filter(Boolean)),
        oid: values(['oid', OBJECT_ID_CLAIM])[0],
      });
    },
  };
}
