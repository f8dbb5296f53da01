/**
 * What the Functions host puts in front of the app on Flex Consumption (and every Linux Consumption SKU), in the ways
 * that matter to this service, so the local host can run the app behind it:
 *
 * - CORS (Azure/azure-functions-host, src/WebJobs.Script.WebHost/WebScriptHostBuilderExtension.cs: on
 *   IsAnyLinuxConsumption() it adds JobHostCorsMiddleware, then JobHostEasyAuthMiddleware, "EasyAuth must go after
 *   CORS"). The list is the environment variable CORS_ALLOWED_ORIGINS, a JSON array (Configuration/
 *   HostCorsOptionsSetup.cs), plus CORS_SUPPORT_CREDENTIALS; the policy allows any header and any method
 *   (Configuration/CorsOptionsSetup.cs). ASP.NET Core's CorsMiddleware ends every preflight (OPTIONS with Origin and
 *   Access-Control-Request-Method) itself with 204, adding the allow headers only for a listed origin, and adds
 *   Access-Control-Allow-Origin to the actual responses of listed origins. The app never sees a preflight.
 * - App Service Authentication ("Easy Auth"), when on: the caller's own x-ms-client-principal* headers never reach the
 *   app; for a caller whose bearer token the provider signed, the platform adds them itself.
 */
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { z } from 'zod';

export interface FlexFrontOptions {
  /** The app's environment, where the platform puts CORS_ALLOWED_ORIGINS and CORS_SUPPORT_CREDENTIALS. */
  env: Record<string, string | undefined>;
  /** App Service Authentication in front: the provider whose bearer tokens sign callers in. Absent: off. */
  easyAuth?: { issuer: string; audience: string; jwksUri: string };
}

export interface FlexFront {
  /** The platform's answer to a CORS preflight, or undefined when the request goes on to the app. */
  preflight(
    method: string,
    headers: Record<string, string>,
  ): { status: 204; headers: Record<string, string> } | undefined;
  /** The request headers the app gets: client principal headers removed, and the platform's added when signed in. */
  requestHeaders(headers: Record<string, string>): Promise<Record<string, string>>;
  /** Headers the platform sets on the app's response (they replace the app's own of the same name). */
  responseHeaders(requestHeaders: Record<string, string>): Record<string, string>;
}

const PRINCIPAL_HEADER = /^x-ms-client-principal/i;
const OBJECT_ID_CLAIM = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

/** CorsPolicyBuilder's origin normalisation: scheme and host lower-cased, a default port dropped. */
function normalisedOrigin(origin: string) {
  if (!URL.canParse(origin)) return origin.toLowerCase();
  const url = new URL(origin);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : origin.toLowerCase();
}

/** The Easy Auth principal headers for a verified token, as App Service forwards them for Microsoft Entra ID. */
function principalHeaders(claims: JWTPayload): Record<string, string> {
  const entries = Object.entries(claims).flatMap(([typ, value]) =>
    (Array.isArray(value) ? value : [value]).map((val) => ({
      typ: typ === 'oid' ? OBJECT_ID_CLAIM : typ,
      val: String(val),
    })),
  );
  const principal = { auth_typ: 'aad', claims: entries, name_typ: 'name', role_typ: 'roles' };
  const userId = String(claims.oid ?? claims.sub ?? '');
  return {
    'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64'),
    'x-ms-client-principal-id': userId,
    'x-ms-client-principal-name': String(claims.preferred_username ?? claims.name ?? userId),
    'x-ms-client-principal-idp': 'aad',
  };
}

export function createFlexFront(options: FlexFrontOptions): FlexFront {
  // The host fails to start on a list it cannot parse; so does this front.
  const origins = z
    .array(z.string())
    .parse(JSON.parse(options.env.CORS_ALLOWED_ORIGINS?.trim() || '[]'))
    .map(normalisedOrigin);
  const credentials = options.env.CORS_SUPPORT_CREDENTIALS?.trim().toLowerCase() === 'true';
  const anyOrigin = origins.length === 1 && origins[0] === '*';
  const keys = options.easyAuth ? createRemoteJWKSet(new URL(options.easyAuth.jwksUri)) : undefined;

  /** CorsService.EvaluatePolicy: the allowed origin to echo, or undefined. */
  const allowedOrigin = (origin: string | undefined) => {
    if (origin === undefined) return undefined;
    if (anyOrigin) return credentials ? origin : '*';
    return origins.includes(origin) ? origin : undefined;
  };
  const originHeaders = (allowed: string): Record<string, string> => ({
    'access-control-allow-origin': allowed,
    ...(credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    ...(origins.length > 1 || (anyOrigin && credentials) ? { vary: 'Origin' } : {}),
  });

  return {
    preflight(method, headers) {
      const requestedMethod = headers['access-control-request-method'];
      if (method !== 'OPTIONS' || headers.origin === undefined || requestedMethod === undefined)
        return undefined;
      const allowed = allowedOrigin(headers.origin);
      if (allowed === undefined) return { status: 204, headers: {} };
      const requestedHeaders = headers['access-control-request-headers'];
      return {
        status: 204,
        headers: {
          ...originHeaders(allowed),
          'access-control-allow-methods': requestedMethod,
          ...(requestedHeaders ? { 'access-control-allow-headers': requestedHeaders } : {}),
        },
      };
    },

    async requestHeaders(headers) {
      if (!options.easyAuth || !keys) return headers;
      const forwarded = Object.fromEntries(
        Object.entries(headers).filter(([name]) => !PRINCIPAL_HEADER.test(name)),
      );
      const token = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
      if (token === undefined) return forwarded;
      try {
        const { payload } = await jwtVerify(token, keys, {
          issuer: options.easyAuth.issuer,
          audience: options.easyAuth.audience,
        });
        return { ...forwarded, ...principalHeaders(payload) };
      } catch {
        // Easy Auth configured to allow anonymous requests passes an unverified caller on without a principal.
        return forwarded;
      }
    },

    responseHeaders(requestHeaders) {
      const allowed = allowedOrigin(requestHeaders.origin);
      return allowed === undefined ? {} : originHeaders(allowed);
    },
  };
}
