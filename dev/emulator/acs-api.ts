import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import { type AcsRoute, matchAcsRoute } from './acs-routes.js';
import { authenticate } from './authentication.js';
import type { EmulatorContext } from './context.js';
import type { ThrottleBucket } from './faults.js';
import { type AcsError, errorReply, jsonReply, parseJson, type Reply, readBody, writeReply } from './http.js';
import {
  createIdentitySchema,
  issueTokenSchema,
  requiredFieldError,
  teamsExchangeSchema,
  validationError,
} from './schemas.js';
import type { IdentityRecord, RejectionReason } from './state.js';
import { formatWholeSecondDate } from './time.js';
import {
  type ApiVersion,
  featuresOf,
  isApiVersion,
  type Operation,
  supportedVersionsHeader,
  supportsOperation,
  type VersionFeatures,
} from './versions.js';

const defaultExpiryMinutes = 1440;
const identityPattern = /^8:acs:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[^_]+$/i;
const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const faultCodes = { 429: 'TooManyRequests', 500: 'InternalServerError', 503: 'ServiceUnavailable' } as const;

/**
 * A refusal: the status, the service's error body, the stats reason (none for routing errors), and extra headers.
 * `fromController` says whether the service answers it from the versioned controller, with its
 * `api-supported-versions`; the recordings show that header missing on 401s of authentication and on model-binding
 * errors (`Scopes: The Scopes field is required.`), and present on the controller's own validation errors.
 */
class Refusal {
  constructor(
    readonly status: number,
    readonly error: AcsError,
    readonly reason: RejectionReason | undefined,
    readonly options: { headers?: Record<string, string>; fromController?: boolean } = {},
  ) {}
}

/** An answer, and the operation it reports as done (what a lost answer leaves behind). */
interface Outcome {
  reply: Reply;
  performed?: Operation;
}

/**
 * Serves one call on an ACS Identity API path, in the order the service checks things: caller authentication
 * (before routing, so a valid signature for another path is a 401, not a 405), the route, api-version,
 * (injected faults), the body, the identity, the service limits, then the operation itself.
 *
 * A call is carried out once its body has arrived, whether or not its caller is still there: the injected latency
 * holds back the answer, as a network round trip would, and an answer nobody is left to receive is counted in
 * `stats.undelivered` instead of being written.
 */
export async function handleAcsRequest(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readBody(req);
  let callerGone = false;
  res.once('close', () => {
    if (!res.writableFinished) callerGone = true;
  });
  const outcome = await answer(ctx, req, body);
  if (ctx.faults.latencyMs > 0) await delay(ctx.faults.latencyMs);
  if (callerGone || res.destroyed) {
    if (outcome.performed) ctx.state.countUndelivered(outcome.performed);
    return;
  }
  writeReply(res, outcome.reply);
}

async function answer(ctx: EmulatorContext, req: IncomingMessage, body: Buffer): Promise<Outcome> {
  let operation: Operation | undefined;
  try {
    const verdict = await authenticate(ctx, req, body);
    if (!verdict.ok) throw new Refusal(401, { code: 'Denied', message: verdict.message }, 'authentication');
    const route = routeOf(req);
    operation = route.operation;
    const version = checkVersion(req, route.operation);
    const fault = ctx.faults.nextCall();
    if (fault.fail) {
      const error = {
        code: faultCodes[fault.status],
        message: 'Emulated fault injected by the ACS emulator.',
      };
      throw new Refusal(fault.status, error, 'faults', { headers: fault.headers });
    }
    const outcome = await perform(ctx, route, featuresOf(version), req, body);
    return { ...outcome, reply: withVersions(outcome.reply, route.operation) };
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    if (error.reason) ctx.state.countRejection(error.reason);
    const reply = errorReply(error.status, error.error, error.options.headers);
    return { reply: error.options.fromController && operation ? withVersions(reply, operation) : reply };
  }
}

function routeOf(req: IncomingMessage): AcsRoute {
  const route = matchAcsRoute(req.method ?? '', req.url ?? '/');
  if (route === 'method-not-allowed') {
    throw new Refusal(
      405,
      { code: 'MethodNotAllowed', message: `${req.method} is not supported here.` },
      undefined,
    );
  }
  if (route === 'not-found') {
    throw new Refusal(
      404,
      { code: 'NotFound', message: 'The requested resource does not exist.' },
      undefined,
    );
  }
  return route;
}

function withVersions(reply: Reply, operation: Operation): Reply {
  return {
    ...reply,
    headers: { ...reply.headers, 'api-supported-versions': supportedVersionsHeader(operation) },
  };
}

async function perform(
  ctx: EmulatorContext,
  route: AcsRoute,
  features: VersionFeatures,
  req: IncomingMessage,
  body: Buffer,
): Promise<Outcome> {
  const { state } = ctx;
  const done = (reply: Reply): Outcome => {
    state.countSuccess(route.operation);
    return { reply, performed: route.operation };
  };
  switch (route.operation) {
    case 'createIdentity': {
      if (!features.repeatableCreate) return done(await createIdentity(ctx, features, req, body));
      const decision = ctx.repeatability.decide(
        req.headers,
        { method: req.method ?? 'POST', target: req.url ?? '/', body },
        ctx.clock(),
      );
      if (decision.kind === 'answer') {
        if (decision.reply.status >= 400) ctx.state.countRejection('validation');
        return { reply: decision.reply };
      }
      if (decision.kind === 'not-repeatable') return done(await createIdentity(ctx, features, req, body));
      try {
        return done(decision.complete(await createIdentity(ctx, features, req, body)));
      } catch (error) {
        decision.abandon();
        throw error;
      }
    }
    case 'getIdentity': {
      const identity = findIdentity(ctx, route.identityId);
      return done(jsonReply(200, identityView(identity)));
    }
    case 'issueToken': {
      const request = parseBody(req, body, issueTokenSchema(features), {
        allowEmpty: false,
        required: ['scopes'],
      });
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'issueToken');
      const accessToken = await issue(ctx, identity, request.scopes, expiryOf(request), ctx.clock());
      return done(jsonReply(200, accessToken));
    }
    case 'revokeTokens': {
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'revokeTokens');
      state.revoke(identity);
      return done({ status: 204, headers: {} });
    }
    case 'deleteIdentity': {
      const identity = findIdentity(ctx, route.identityId);
      throttle(ctx, 'deleteIdentity');
      state.revoke(identity);
      state.delete(identity.id);
      return done({ status: 204, headers: {} });
    }
    case 'exchangeTeamsToken':
      return done(await exchangeTeamsToken(ctx, req, body));
  }
}

async function createIdentity(
  ctx: EmulatorContext,
  features: VersionFeatures,
  req: IncomingMessage,
  body: Buffer,
): Promise<Reply> {
  const request = parseBody(req, body, createIdentitySchema(features), { allowEmpty: true, required: [] });
  const scopes = request.createTokenWithScopes ?? [];
  throttle(ctx, scopes.length > 0 ? 'createIdentityWithToken' : 'createIdentity');
  const customId =
    'customId' in request && typeof request.customId === 'string' ? request.customId : undefined;
  const identity = ctx.state.createIdentity(customId);
  const accessToken =
    scopes.length > 0 ? await issue(ctx, identity, scopes, expiryOf(request), ctx.clock()) : undefined;
  const view = features.customId ? identityView(identity) : { id: identity.id };
  return jsonReply(201, { identity: view, ...(accessToken ? { accessToken } : {}) });
}

/**
 * An identity as API 2025-06-30 shows it, in the recorded field order (azure-sdk-assets,
 * net/.../GetUserShouldReturnTheCustomId.json): `customId` and `lastTokenIssuedAt` when known, then `id`.
 */
function identityView(identity: IdentityRecord): object {
  return {
    ...(identity.customId !== undefined ? { customId: identity.customId } : {}),
    ...(identity.lastTokenIssuedAtMs !== undefined
      ? { lastTokenIssuedAt: formatWholeSecondDate(identity.lastTokenIssuedAtMs) }
      : {}),
    id: identity.id,
  };
}

/**
 * The Teams token exchange, checked in the order the recordings imply (Python SDK recordings
 * test_get_token_for_teams_user_*): the Entra token first (an empty token with an empty userId is a 401), then the
 * required fields, then the ids' format, then whether they match the token's `appid` and `oid` claims.
 */
async function exchangeTeamsToken(ctx: EmulatorContext, req: IncomingMessage, body: Buffer): Promise<Reply> {
  const parsed = parseJsonBody(req, body);
  const now = ctx.clock();
  const token =
    typeof parsed === 'object' && parsed !== null ? (parsed as { token?: unknown }).token : undefined;
  const teamsUser =
    typeof token === 'string' && token ? await ctx.entra.verifyTeamsUserToken(token, now) : undefined;
  if (!teamsUser) {
    const error = { code: 'InvalidAccessToken', message: 'Provided access token is not valid.' };
    throw new Refusal(401, error, 'authentication');
  }
  const request = validate(parsed, teamsExchangeSchema, ['appId', 'userId']);
  const validationFailure = (message: string, target: string) =>
    new Refusal(400, { code: 'ValidationError', message, target }, 'validation', { fromController: true });
  if (!guidPattern.test(request.appId))
    throw validationFailure('Provided AppId has invalid format.', 'appId');
  if (!guidPattern.test(request.userId))
    throw validationFailure('Provided UserId has invalid format.', 'userId');
  if (request.appId.toLowerCase() !== teamsUser.appId.toLowerCase()) {
    throw validationFailure('AAD application is not the expected one.', 'appId');
  }
  if (request.userId.toLowerCase() !== teamsUser.userId.toLowerCase()) {
    throw validationFailure('Provided AAD token issued for unexpected user.', 'userId');
  }
  throttle(ctx, 'exchangeTeamsToken');
  const issued = await ctx.signer.issue(
    `8:orgid:${teamsUser.userId}`,
    ['voip', 'chat'],
    now,
    teamsUser.exp * 1000,
    {
      tid: teamsUser.tenantId,
    },
  );
  ctx.state.rememberToken(undefined, issued.token, now, issued.expiresAtMs);
  return jsonReply(200, { token: issued.token, expiresOn: issued.expiresOn });
}

function checkVersion(req: IncomingMessage, operation: Operation): ApiVersion {
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const requested = url.searchParams.get('api-version');
  if (requested === null || requested === '') {
    const error = {
      code: 'MissingApiVersionParameter',
      message: 'An API version is required, but was not specified.',
    };
    throw new Refusal(400, error, 'validation', { fromController: true });
  }
  if (!isApiVersion(requested) || !supportsOperation(requested, operation)) {
    const uri = `${'encrypted' in req.socket ? 'https' : 'http'}://${req.headers.host ?? ''}${url.pathname}`;
    const message = `The HTTP resource that matches the request URI '${uri}' does not support the API version '${requested}'.`;
    throw new Refusal(400, { code: 'UnsupportedApiVersion', message }, 'validation', {
      fromController: true,
    });
  }
  return requested;
}

function parseJsonBody(req: IncomingMessage, body: Buffer): unknown {
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
  return parsed.value;
}

function validate<T extends z.ZodType>(value: unknown, schema: T, required: readonly string[]): z.infer<T> {
  const missing = requiredFieldError(value, required);
  if (missing) throw new Refusal(400, missing, 'validation');
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new Refusal(400, validationError(result.error), 'validation', { fromController: true });
  }
  return result.data;
}

function parseBody<T extends z.ZodType>(
  req: IncomingMessage,
  body: Buffer,
  schema: T,
  { allowEmpty, required }: { allowEmpty: boolean; required: readonly string[] },
): z.infer<T> {
  const value = parseJsonBody(req, body);
  return validate(value === undefined && allowEmpty ? {} : value, schema, required);
}

/**
 * An id of another resource is refused with 401 IdentityNotOwned (azure-sdk-assets, js/.../
 * recording_throws_an_error_when_attempting_to_delete_an_invalid_user.json); an id of this resource that does not
 * exist, or no longer does, is unknown (no public recording; the emulator's own 404).
 */
function findIdentity(ctx: EmulatorContext, id: string | undefined): IdentityRecord {
  const match = identityPattern.exec(id ?? '');
  if (!match) {
    const error = { code: 'ValidationError', message: `Invalid identity id '${id ?? ''}'.`, target: 'id' };
    throw new Refusal(400, error, 'validation', { fromController: true });
  }
  if (match[1]?.toLowerCase() !== ctx.state.resourceId.toLowerCase()) {
    const error = { code: 'IdentityNotOwned', message: "Provided identity doesn't belong to the resource." };
    throw new Refusal(401, error, 'notFound', { fromController: true });
  }
  const identity = ctx.state.find(id ?? '');
  if (!identity) {
    const error = { code: 'IdentityNotFound', message: `Identity '${id}' was not found.` };
    throw new Refusal(404, error, 'notFound', { fromController: true });
  }
  return identity;
}

function throttle(ctx: EmulatorContext, bucket: ThrottleBucket): void {
  const retryAfter = ctx.faults.throttle(bucket, ctx.clock());
  if (retryAfter === undefined) return;
  const error = { code: 'TooManyRequests', message: 'Rate limit exceeded for this operation. Retry later.' };
  throw new Refusal(429, error, 'throttled', { headers: { 'retry-after': String(retryAfter) } });
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
