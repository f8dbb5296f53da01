import { z } from 'zod';
import {
  AuthenticationError,
  type CallerValidator,
  type Principal,
  principalSchema,
  userIdFromClaim,
} from './principal.js';

const OBJECT_ID_CLAIM = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const SCOPE_CLAIM = 'http://schemas.microsoft.com/identity/claims/scope';
const ROLE_CLAIM = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';

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
      const issuer = values(['iss'])[0] ?? headers.get('x-ms-client-principal-idp') ?? principal.auth_typ;
      if (!issuer) throw new AuthenticationError('issuer_missing', true);
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
