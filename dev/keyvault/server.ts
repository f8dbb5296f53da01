import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { ManagedIdentities } from '../emulator/context.js';
import type { EntraAuthority, EntraPrincipal } from '../emulator/entra.js';
import { BodyTooLargeError, parseJson, readBody, sendJson } from '../emulator/http.js';
import { handleManagedIdentityToken } from '../emulator/managed-identity.js';
import { isLoopbackHost } from '../loopback-host.js';
import {
  type KeyStore,
  type KeyVersion,
  keyBundle,
  type SignAlgorithm,
  sign,
  signAlgorithms,
  unwrap,
  type WrapAlgorithm,
  wrap,
  wrapAlgorithms,
} from './keys.js';

/** The resource Key Vault names in its challenge; the SDK asks the credential for `<resource>/.default`. */
export const keyVaultResource = 'https://vault.azure.net';
const keyVaultAudiences = [keyVaultResource, `${keyVaultResource}/`];

export type KeyVaultOperation =
  | 'getKey'
  | 'wrapKey'
  | 'unwrapKey'
  | 'sign'
  | 'challenge'
  | 'managedIdentityToken';

/** The path action of each key operation (`POST /keys/<name>/<version>/<action>`), as the REST API spells it. */
const keyActions: Record<string, 'wrapKey' | 'unwrapKey' | 'sign'> = {
  wrapkey: 'wrapKey',
  unwrapkey: 'unwrapKey',
  sign: 'sign',
};

export interface KeyVaultContext {
  /** `https://127.0.0.1:<port>`, no trailing slash: what key ids start with. */
  vaultUrl: string;
  keys: KeyStore;
  entra: EntraAuthority;
  clock: () => number;
  /** The App Service managed identity protocol: the header secret and the identities it serves. */
  identities: ManagedIdentities;
  /** Client ids whose role assignment on the keys was taken away: their valid tokens get 403. */
  denied: Set<string>;
  counts: Record<KeyVaultOperation, number>;
}

interface KeyVaultError {
  code: string;
  message: string;
  innererror?: { code: string };
}

const fail = (
  res: ServerResponse,
  status: number,
  error: KeyVaultError,
  headers: Record<string, string> = {},
) => sendJson(res, status, { error }, headers);

/**
 * The Key Vault keys data plane as @azure/keyvault-keys uses it: challenge-based bearer authentication, GET a key
 * (version or current), wrapkey, unwrapkey and sign (each refused unless the key's key_ops permit it); plus an App Service managed identity
 * endpoint (`/msi/token`) that mints the bearer tokens, so the real credential classes run unmodified.
 */
export function createKeyVaultListener(ctx: KeyVaultContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = req.headers['x-ms-client-request-id'];
    if (typeof requestId === 'string') res.setHeader('x-ms-client-request-id', requestId);
    route(ctx, req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else if (error instanceof BodyTooLargeError) {
        fail(res, 413, { code: 'RequestEntityTooLarge', message: 'The request body is larger than 1 MiB.' });
      } else
        fail(res, 500, {
          code: 'InternalServerError',
          message: 'The emulator failed to handle the request.',
        });
    });
  };
}

async function route(ctx: KeyVaultContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A loopback server must not answer for other names (DNS rebinding): a browser page could otherwise reach it.
  if (!isLoopbackHost(req.headers.host)) {
    return fail(res, 421, {
      code: 'MisdirectedRequest',
      message: 'This emulator answers loopback hosts only.',
    });
  }
  const url = new URL(req.url ?? '/', 'https://emulator.invalid');
  let segments: string[];
  try {
    segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return notFound(res);
  }
  if (segments[0] === 'msi' && segments[1] === 'token' && segments.length === 2) {
    ctx.counts.managedIdentityToken++;
    // The same App Service endpoint the ACS emulator serves, for this vault's own tokens.
    return handleManagedIdentityToken(
      { managedIdentities: ctx.identities, entra: ctx.entra, clock: ctx.clock },
      req,
      res,
    );
  }
  if (segments[0] !== 'keys' || segments.length < 2 || segments.length > 4) return notFound(res);
  const [, name = '', version = '', action] = segments;
  const operation: KeyVaultOperation | undefined =
    action === undefined ? 'getKey' : Object.hasOwn(keyActions, action) ? keyActions[action] : undefined;
  if (!operation) return notFound(res);
  if (req.method !== (operation === 'getKey' ? 'GET' : 'POST')) {
    return fail(res, 405, { code: 'MethodNotAllowed', message: `${req.method} is not supported here.` });
  }
  if (!url.searchParams.get('api-version')) {
    return fail(res, 400, {
      code: 'BadParameter',
      message: "The 'api-version' query parameter is required.",
    });
  }

  const principal = await authenticate(ctx, req.headers.authorization);
  if (!principal) {
    ctx.counts.challenge++;
    return fail(
      res,
      401,
      { code: 'Unauthorized', message: 'AKV10000: Request is missing a valid Bearer token.' },
      {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${ctx.entra.tenantId}", resource="${keyVaultResource}"`,
      },
    );
  }
  if (ctx.denied.has(principal.appId)) {
    return fail(res, 403, {
      code: 'Forbidden',
      message: 'Caller is not authorized to perform action on resource.',
      innererror: { code: 'ForbiddenByRbac' },
    });
  }

  const key = ctx.keys.find(name, version);
  if (!key) {
    return fail(res, 404, {
      code: 'KeyNotFound',
      message: `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
    });
  }
  if (!key.enabled) {
    return fail(res, 403, {
      code: 'Forbidden',
      message: `Operation ${operation} is not allowed on a disabled key.`,
      innererror: { code: 'KeyDisabled' },
    });
  }
  const kid = `${ctx.vaultUrl}/keys/${key.name}/${key.version}`;
  if (operation === 'getKey') {
    ctx.counts.getKey++;
    return sendJson(res, 200, keyBundle(key, kid));
  }
  if (!key.operations.includes(operation)) {
    // The answer Key Vault gives for an operation the key's key_ops leave out (seen in
    // Azure/azure-sdk-for-net#11518: 403, Forbidden, innererror KeyOperationForbidden).
    return fail(res, 403, {
      code: 'Forbidden',
      message: `Operation ${operation} is not permitted on this key.`,
      innererror: { code: 'KeyOperationForbidden' },
    });
  }
  ctx.counts[operation]++;
  return keyOperation(operation, key, kid, req, res);
}

async function keyOperation(
  operation: 'wrapKey' | 'unwrapKey' | 'sign',
  key: KeyVersion,
  kid: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const parsed = parseJson(await readBody(req));
  const body = parsed.ok ? (parsed.value as { alg?: unknown; value?: unknown } | undefined) : undefined;
  const algorithm = body?.alg;
  const algorithms: readonly string[] = operation === 'sign' ? signAlgorithms : wrapAlgorithms;
  if (typeof algorithm !== 'string' || !algorithms.includes(algorithm)) {
    return fail(res, 400, {
      code: 'BadParameter',
      message: `Invalid algorithm: expected one of ${algorithms.join(', ')}.`,
    });
  }
  if (typeof body?.value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(body.value)) {
    return fail(res, 400, { code: 'BadParameter', message: "The 'value' must be base64url." });
  }
  const value = Buffer.from(body.value, 'base64url');
  const result =
    operation === 'sign'
      ? sign(key, algorithm as SignAlgorithm, value)
      : operation === 'wrapKey'
        ? wrap(key, algorithm as WrapAlgorithm, value)
        : unwrap(key, algorithm as WrapAlgorithm, value);
  if (!result) return fail(res, 400, { code: 'BadParameter', message: 'The parameter is incorrect.' });
  sendJson(res, 200, { kid, value: result.toString('base64url') });
}

/** The caller behind a bearer token minted by this emulator's identity endpoint for Key Vault, unexpired. */
async function authenticate(
  ctx: KeyVaultContext,
  authorization: string | undefined,
): Promise<EntraPrincipal | undefined> {
  const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return undefined;
  try {
    const { payload } = await jwtVerify(
      token,
      createLocalJWKSet(ctx.entra.jwks as Parameters<typeof createLocalJWKSet>[0]),
      {
        issuer: ctx.entra.issuer,
        audience: keyVaultAudiences,
        currentDate: new Date(ctx.clock()),
      },
    );
    if (typeof payload.appid !== 'string' || typeof payload.oid !== 'string') return undefined;
    return { appId: payload.appid, objectId: payload.oid, tenantId: String(payload.tid) };
  } catch {
    return undefined;
  }
}

function notFound(res: ServerResponse): void {
  fail(res, 404, { code: 'NotFound', message: 'The requested resource does not exist.' });
}
