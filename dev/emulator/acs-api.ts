import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import { authenticate } from './authentication.js';
import type { EmulatorContext } from './context.js';
import type { ThrottleBucket } from './faults.js';
import { type AcsError, parseJson, readBody, sendError, sendJson, sendNoContent } from './http.js';
import { createIdentitySchema, issueTokenSchema, teamsExchangeSchema, validationError } from './schemas.js';
import type { IdentityRecord, RejectionReason } from './state.js';
import { formatServiceDate } from './time.js';
import { type ApiVersion, featuresOf, isApiVersion, type Operation, supportsOperation } from './versions.js';

export interface AcsRoute {
  operation: Operation;
  /** The decoded `{id}` path segment, for the operations on one identity. */
  identityId?: string;
}

const defaultExpiryMinutes = 1440;
const identityPattern = /^8:acs:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[^_]+$/i;
const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const faultCodes = { 429: 'TooManyRequests', 500: 'InternalServerError', 503: 'ServiceUnavailable' } as const;

/** A refusal: the status, the service's error body, the stats reason, and extra headers. */
class Refusal {
  constructor(
    readonly status: number,
    readonly error: AcsError,
    readonly reason: RejectionReason,
    readonly headers: Record<string, string> = {},
  ) {}
}

/**
 * Serves one ACS Identity API call, in the order the service checks things: api-version, caller authentication,
 * (injected faults), the body, the identity, the service limits, then the operation itself.
 */
export async function handleAcsCall(
  ctx: EmulatorContext,
  route: AcsRoute,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (ctx.faults.latencyMs > 0) await delay(ctx.faults.latencyMs);
  const body = await readBody(req);
  try {
    const version = checkVersion(req, route.operation);
    const verdict = await authenticate(ctx, req, body);
    if (!verdict.ok) throw new Refusal(401, { code: 'Denied', message: verdict.message }, 'authentication');
    const fault = ctx.faults.nextCall();
    if (fault.fail) {
      const error = {
        code: faultCodes[fault.status],
        message: 'Emulated fault injected by the ACS emulator.',
      };
      throw new Refusal(fault.status, error, 'faults', fault.headers);
    }
    await perform(ctx, route, version, req, body, res);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    ctx.state.countRejection(error.reason);
    sendError(res, error.status, error.error, error.headers);
  }
}

async function perform(
  ctx: EmulatorContext,
  route: AcsRoute,
  version: ApiVersion,
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse,
): Promise<void> {
  const features = featuresOf(version);
  const { state } = ctx;
  switch (route.operation) {
    case 'createIdentity': {
      const request = parseBody(req, body, createIdentitySchema(features), { allowEmpty: true });
      const scopes = request.createTokenWithScopes ?? [];
      throttle(ctx, scopes.length > 0 ? 'createIdentityWithToken' : 'createIdentity');
      const identity = state.createIdentity(
        'customId' in request ? (request.customId as string | undefined) : undefined,
      );
      const accessToken =
        scopes.length > 0 ? await issue(ctx, identity, scopes, expiryOf(request), ctx.clock()) : undefined;
      state.countSuccess('createIdentity');
      sendJson(res, 201, { identity: { id: identity.id }, ...(accessToken ? { accessToken } : {}) });
      return;
    }
    case 'getIdentity': {
      const identity = findIdentity(ctx, route.identityId);
      state.countSuccess('getIdentity');
      sendJson(res, 200, {
        id: identity.id,
        ...(identity.customId !== undefined ? { customId: identity.customId } : {}),
        ...(identity.lastTokenIssuedAtMs !== undefined
          ? { lastTokenIssuedAt: formatServiceDate(identity.lastTokenIssuedAtMs) }
          : {}),
      });
      return;
    }
    case 'issueToken': {
      const request = parseBody(req, body, issueTokenSchema(features), { allowEmpty: false });
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'issueToken');
      const accessToken = await issue(ctx, identity, request.scopes, expiryOf(request), ctx.clock());
      state.countSuccess('issueToken');
      sendJson(res, 200, accessToken);
      return;
    }
    case 'revokeTokens': {
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'revokeTokens');
      state.revoke(identity);
      state.countSuccess('revokeTokens');
      sendNoContent(res);
      return;
    }
    case 'deleteIdentity': {
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'deleteIdentity');
      state.revoke(identity);
      state.delete(identity.id);
      state.countSuccess('deleteIdentity');
      sendNoContent(res);
      return;
    }
    case 'exchangeTeamsToken': {
      const request = parseBody(req, body, teamsExchangeSchema, { allowEmpty: false });
      const now = ctx.clock();
      const teamsUser = request.token ? await ctx.entra.verifyTeamsUserToken(request.token, now) : undefined;
      if (!teamsUser) {
        const error = {
          code: 'InvalidAccessToken',
          message: 'The Entra ID access token is invalid or expired.',
        };
        throw new Refusal(401, error, 'authentication');
      }
      for (const [field, claimed, actual, claim] of [
        ['appId', request.appId, teamsUser.appId, 'appid'],
        ['userId', request.userId, teamsUser.userId, 'oid'],
      ] as const) {
        if (!guidPattern.test(claimed) || claimed.toLowerCase() !== actual.toLowerCase()) {
          const message = `Invalid ${field} - it does not match the '${claim}' claim of the access token.`;
          throw new Refusal(400, { code: 'ValidationError', message, target: field }, 'validation');
        }
      }
      throttle(ctx, 'exchangeTeamsToken');
      const communicationUserId = `8:orgid:${teamsUser.userId}`;
      const issued = await ctx.signer.issue(
        communicationUserId,
        ['voip', 'chat'],
        now,
        teamsUser.exp * 1000,
        {
          tid: teamsUser.tenantId,
        },
      );
      state.rememberToken(undefined, issued.token, now, issued.expiresAtMs);
      state.countSuccess('exchangeTeamsToken');
      sendJson(res, 200, { token: issued.token, expiresOn: issued.expiresOn });
      return;
    }
  }
}

function checkVersion(req: IncomingMessage, operation: Operation): ApiVersion {
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const requested = url.searchParams.get('api-version');
  if (requested === null || requested === '') {
    const error = {
      code: 'MissingApiVersionParameter',
      message: 'An API version is required, but was not specified.',
    };
    throw new Refusal(400, error, 'validation');
  }
  if (!isApiVersion(requested) || !supportsOperation(requested, operation)) {
    const uri = `${'encrypted' in req.socket ? 'https' : 'http'}://${req.headers.host ?? ''}${url.pathname}`;
    const message = `The HTTP resource that matches the request URI '${uri}' does not support the API version '${requested}'.`;
    throw new Refusal(400, { code: 'UnsupportedApiVersion', message }, 'validation');
  }
  return requested;
}

function parseBody<T extends z.ZodType>(
  req: IncomingMessage,
  body: Buffer,
  schema: T,
  { allowEmpty }: { allowEmpty: boolean },
): z.infer<T> {
  const contentType = req.headers['content-type'] ?? '';
  if (body.length > 0 && !/^application\/json\b/i.test(contentType)) {
    const error = {
      code: 'UnsupportedMediaType',
      message: "The request body must be sent as 'application/json'.",
    };
    throw new Refusal(415, error, 'validation');
  }
  const parsed = parseJson(body);
  if (!parsed.ok) {
    throw new Refusal(
      400,
      { code: 'InvalidRequestBody', message: 'The request body is not valid JSON.' },
      'validation',
    );
  }
  const result = schema.safeParse(parsed.value === undefined && allowEmpty ? {} : parsed.value);
  if (!result.success) throw new Refusal(400, validationError(result.error), 'validation');
  return result.data;
}

/**
 * An id of another resource is refused with 401 (what the SDK's public tests expect); an id of this resource that
 * does not exist, or no longer does, is unknown.
 */
function findIdentity(ctx: EmulatorContext, id: string | undefined): IdentityRecord {
  const match = identityPattern.exec(id ?? '');
  if (!match) {
    const error = { code: 'ValidationError', message: `Invalid identity id '${id ?? ''}'.`, target: 'id' };
    throw new Refusal(400, error, 'validation');
  }
  if (match[1]?.toLowerCase() !== ctx.state.resourceId.toLowerCase()) {
    const message = 'The identity does not belong to this Communication Services resource.';
    throw new Refusal(401, { code: 'Denied', message }, 'notFound');
  }
  const identity = ctx.state.find(id ?? '');
  if (!identity) {
    throw new Refusal(
      404,
      { code: 'IdentityNotFound', message: `Identity '${id}' was not found.` },
      'notFound',
    );
  }
  return identity;
}

function throttle(ctx: EmulatorContext, bucket: ThrottleBucket): void {
  const retryAfter = ctx.faults.throttle(bucket, ctx.clock());
  if (retryAfter === undefined) return;
  const error = { code: 'TooManyRequests', message: 'Rate limit exceeded for this operation. Retry later.' };
  throw new Refusal(429, error, 'throttled', { 'retry-after': String(retryAfter) });
}

function expiryOf(request: object): number {
  return 'expiresInMinutes' in request && typeof request.expiresInMinutes === 'number'
    ? request.expiresInMinutes
    : defaultExpiryMinutes;
}

async function issue(
  ctx: EmulatorContext,
  identity: IdentityRecord,
  scopes: readonly string[],
  minutes: number,
  now: number,
): Promise<{ token: string; expiresOn: string }> {
  const uniqueScopes = [...new Set(scopes)];
  const issued = await ctx.signer.issue(identity.id, uniqueScopes, now, now + minutes * 60_000);
  ctx.state.rememberToken(identity, issued.token, now, issued.expiresAtMs);
  return { token: issued.token, expiresOn: issued.expiresOn };
}
