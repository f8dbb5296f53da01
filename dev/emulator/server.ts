import type { IncomingMessage, ServerResponse } from 'node:http';
import { boundAddressNames, isLoopbackHost } from '../loopback-host.js';
import { handleAcsRequest } from './acs-api.js';
import { pathSegments } from './acs-routes.js';
import type { EmulatorContext } from './context.js';
import { handleEmulatorCall } from './emulator-api.js';
import { BodyTooLargeError, sendError } from './http.js';
import { handleManagedIdentityToken } from './managed-identity.js';

/** The request listener for node:http / node:https: common headers, routing, and a last-resort error answer. */
export function createRequestListener(ctx: EmulatorContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const clientRequestId = req.headers['x-ms-client-request-id'];
    if (typeof clientRequestId === 'string') res.setHeader('x-ms-client-request-id', clientRequestId);
    route(ctx, req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) {
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

/**
 * The emulator's own endpoints live under /emulator/ and the managed identity endpoint at /msi/token; every other
 * path is the ACS API's, which authenticates before it routes.
 */
async function route(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isLoopbackHost(req.headers.host, boundAddressNames(ctx.bindHost))) {
    return sendError(res, 421, {
      code: 'MisdirectedRequest',
      message:
        'The emulator only answers requests addressed to a loopback host (127.0.0.1, localhost or [::1]).',
    });
  }
  const [first, second, third] = pathSegments(req.url ?? '/') ?? [];
  if (first === 'emulator' && second !== undefined && third === undefined) {
    if (await handleEmulatorCall(ctx, second, req, res)) return;
    return sendError(res, 404, { code: 'NotFound', message: 'The requested resource does not exist.' });
  }
  if (first === 'msi' && second === 'token' && third === undefined) {
    return handleManagedIdentityToken(ctx, req, res);
  }
  return handleAcsRequest(ctx, req, res);
}
