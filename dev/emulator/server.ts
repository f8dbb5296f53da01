import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AcsRoute, handleAcsCall } from './acs-api.js';
import type { EmulatorContext } from './context.js';
import { handleEmulatorCall } from './emulator-api.js';
import { BodyTooLargeError, sendError } from './http.js';
import { handleManagedIdentityToken } from './managed-identity.js';
import { supportedVersionsHeader } from './versions.js';

/** The request listener for node:http / node:https: common headers, routing, and a last-resort error answer. */
export function createRequestListener(ctx: EmulatorContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('api-supported-versions', supportedVersionsHeader);
    const clientRequestId = req.headers['x-ms-client-request-id'];
    if (typeof clientRequestId === 'string') res.setHeader('x-ms-client-request-id', clientRequestId);
    route(ctx, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
      } else if (error instanceof BodyTooLargeError) {
        sendError(res, 413, {
          code: 'RequestEntityTooLarge',
          message: 'The request body is larger than 1 MiB.',
        });
      } else {
        sendError(res, 500, {
          code: 'InternalServerError',
          message: 'The emulator failed to handle the request.',
        });
      }
    });
  };
}

async function route(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const segments = pathSegments(req.url ?? '/');
  if (!segments) return notFound(res);
  const [first, second, third, ...rest] = segments;

  if (first === 'emulator' && second !== undefined && third === undefined) {
    if (await handleEmulatorCall(ctx, second, req, res)) return;
    return notFound(res);
  }
  if (first === 'msi' && second === 'token' && third === undefined)
    return handleManagedIdentityToken(ctx, req, res);

  const acsRoute = matchAcsRoute(req.method ?? '', first, second, third, rest.length);
  if (acsRoute === 'method-not-allowed') {
    return sendError(res, 405, { code: 'MethodNotAllowed', message: `${req.method} is not supported here.` });
  }
  if (!acsRoute) return notFound(res);
  return handleAcsCall(ctx, acsRoute, req, res);
}

function matchAcsRoute(
  method: string,
  first: string | undefined,
  second: string | undefined,
  third: string | undefined,
  extra: number,
): AcsRoute | 'method-not-allowed' | undefined {
  if (extra > 0) return undefined;
  const expect = (allowed: string, matched: AcsRoute) =>
    method === allowed ? matched : 'method-not-allowed';
  if (first === 'teamsUser' && second === ':exchangeAccessToken' && third === undefined) {
    return expect('POST', { operation: 'exchangeTeamsToken' });
  }
  if (first !== 'identities') return undefined;
  if (second === undefined) return expect('POST', { operation: 'createIdentity' });
  if (third === undefined) {
    if (method === 'DELETE') return { operation: 'deleteIdentity', identityId: second };
    return expect('GET', { operation: 'getIdentity', identityId: second });
  }
  if (third === ':issueAccessToken') return expect('POST', { operation: 'issueToken', identityId: second });
  if (third === ':revokeAccessTokens')
    return expect('POST', { operation: 'revokeTokens', identityId: second });
  return undefined;
}

/** The decoded path segments, or undefined for a path that does not decode. */
function pathSegments(target: string): string[] | undefined {
  const pathname = target.split('?')[0] ?? '/';
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

function notFound(res: ServerResponse): void {
  sendError(res, 404, { code: 'NotFound', message: 'The requested resource does not exist.' });
}
