import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { EmulatorContext } from './context.js';
import { faultSettingsSchema } from './faults.js';
import { parseJson, readBody, sendError, sendJson, sendNoContent } from './http.js';
import { introspectSchema, teamsUserSchema, validationError } from './schemas.js';
import { formatServiceDate } from './time.js';

const defaultTeamsTokenLifetimeSeconds = 3600;

/**
 * The emulator's own endpoints under /emulator/: not part of the ACS API, unauthenticated, for tests and tools.
 * Returns false when `name` is not one of them.
 */
export async function handleEmulatorCall(
  ctx: EmulatorContext,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const route = `${req.method} ${name}`;
  switch (route) {
    case 'GET stats':
      sendJson(res, 200, ctx.state.stats());
      return true;
    case 'GET identities':
      sendJson(res, 200, { identities: ctx.state.activeIdentityIds() });
      return true;
    case 'GET jwks':
      sendJson(res, 200, ctx.signer.jwks);
      return true;
    case 'POST introspect': {
      const request = await readValid(req, res, introspectSchema);
      if (request) sendJson(res, 200, await introspect(ctx, request.token));
      return true;
    }
    case 'POST teams-users': {
      const request = await readValid(req, res, teamsUserSchema);
      if (!request) return true;
      const token = await ctx.entra.mintTeamsUserToken(
        request,
        ctx.clock(),
        request.expiresInSeconds ?? defaultTeamsTokenLifetimeSeconds,
      );
      sendJson(res, 200, { token });
      return true;
    }
    case 'PUT faults': {
      const request = await readValid(req, res, faultSettingsSchema);
      if (!request) return true;
      ctx.faults.update(request);
      sendNoContent(res);
      return true;
    }
    default:
      return false;
  }
}

/** Whether a token is one this emulator issued and would still honour, and why not if it would not. */
async function introspect(ctx: EmulatorContext, token: string): Promise<object> {
  const claims = await ctx.signer.verify(token);
  if (!claims) return { active: false, inactiveReason: 'unknown' };
  const communicationUserId = `8:${claims.skypeid}`;
  const details = {
    communicationUserId,
    scopes: claims.acsScope ? claims.acsScope.split(',') : [],
    expiresOn: formatServiceDate(claims.exp * 1000),
  };
  const inactiveReason = reasonInactive(ctx, communicationUserId, token, claims.exp);
  return inactiveReason ? { active: false, inactiveReason, ...details } : { active: true, ...details };
}

function reasonInactive(
  ctx: EmulatorContext,
  communicationUserId: string,
  token: string,
  exp: number,
): string | undefined {
  if (exp * 1000 <= ctx.clock()) return 'expired';
  if (!communicationUserId.startsWith('8:acs:')) return undefined;
  const identity = ctx.state.find(communicationUserId);
  if (!identity) return 'deleted';
  return ctx.state.isRevoked(identity, token) ? 'revoked' : undefined;
}

async function readValid<T extends z.ZodType>(
  req: IncomingMessage,
  res: ServerResponse,
  schema: T,
): Promise<z.infer<T> | undefined> {
  const parsed = parseJson(await readBody(req));
  if (!parsed.ok) {
    sendError(res, 400, { code: 'InvalidRequestBody', message: 'The request body is not valid JSON.' });
    return undefined;
  }
  const result = schema.safeParse(parsed.value);
  if (!result.success) {
    sendError(res, 400, validationError(result.error));
    return undefined;
  }
  return result.data;
}
