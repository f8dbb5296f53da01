import type { HttpResponseInit } from '@azure/functions';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { defineRoute, type Route, type Services, type UserScope } from '../app-services.js';
import type { Inputs } from '../http/define-route.js';
import { ProblemError } from '../http/problem.js';
import { AcsFailureError } from '../shared/errors.js';

/** Entra access tokens are a few KB; a far larger value is a mistake or an attack and never reaches ACS. */
export const MAX_TEAMS_TOKEN_LENGTH = 8 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const TOKEN_RULE = 'must be the Teams user’s Microsoft Entra ID access token (a JWT)';

export const teamsTokenRequestSchema = z.strictObject({
  teamsUserAadToken: z
    .string(TOKEN_RULE)
    .refine((value) => value.length > 0, 'must not be empty')
    .refine(
      (value) => value.length <= MAX_TEAMS_TOKEN_LENGTH,
      `must be at most ${MAX_TEAMS_TOKEN_LENGTH} characters`,
    )
    .refine((value) => value.length > MAX_TEAMS_TOKEN_LENGTH || COMPACT_JWS.test(value), TOKEN_RULE),
});

export const teamsTokenResponseSchema = z.object({
  token: z.string(),
  expiresOn: z.iso.datetime({ offset: true }),
});

/** The tenant the Teams token names, read without verification: only to explain a mistake, never to trust. */
function tenantOf(teamsUserAadToken: string): string | undefined {
  try {
    const { tid } = decodeJwt(teamsUserAadToken);
    return typeof tid === 'string' ? tid : undefined;
  } catch {
    throw new ProblemError('invalid-request', 'The body has invalid fields.', {
      errors: [{ name: 'teamsUserAadToken', reason: TOKEN_RULE }],
    });
  }
}

/** TEAMS_CLIENT_ID, or 404 before the body is read: Teams users are off until it is set. */
function teamsClientId({ settings }: Services): string {
  if (settings.teamsClientId === undefined) {
    throw new ProblemError(
      'not-found',
      'Teams users are not enabled on this service (TEAMS_CLIENT_ID is not set).',
    );
  }
  return settings.teamsClientId;
}

/**
 * POST /api/token/teams: exchanges a Teams user's Entra ID token for an ACS token of that Teams user. The app id is
 * TEAMS_CLIENT_ID and the user is the caller's own verified `oid`, so callers can only exchange their own Teams
 * token. Inputs are checked before ACS is called; ACS's refusals come back as 400/401 problems that say what to fix.
 * The Teams token is never logged.
 */
export async function issueTeamsToken(
  { services, acs, caller }: UserScope,
  inputs: Inputs<z.ZodType, typeof teamsTokenRequestSchema, z.ZodType>,
): Promise<HttpResponseInit> {
  const clientId = teamsClientId(services);
  // Required: the pipeline answered an empty body with the `missing` problem of the route below.
  const body = inputs.body!;
  const userObjectId = caller.oid;
  if (userObjectId === undefined) {
    throw new ProblemError(
      'invalid-request',
      'Your sign-in carries no Microsoft Entra object id (oid claim), which the Teams exchange needs.',
    );
  }
  const tenantId = tenantOf(body.teamsUserAadToken);
  if (
    GUID.test(userObjectId) &&
    tenantId !== undefined &&
    tenantId.toLowerCase() === userObjectId.toLowerCase()
  ) {
    throw new ProblemError(
      'invalid-request',
      'The user object id equals the Teams token’s tenant id (tid): a tenant id was sent as the object id. The caller’s oid claim must be the Teams user’s object id.',
    );
  }

  try {
    const issued = await acs.exchangeTeamsToken({
      teamsUserAadToken: body.teamsUserAadToken,
      clientId,
      userObjectId,
    });
    const answer: z.input<typeof teamsTokenResponseSchema> = {
      token: issued.token,
      expiresOn: issued.expiresOn.toISOString(),
    };
    return { status: 200, jsonBody: answer };
  } catch (error) {
    if (error instanceof AcsFailureError && error.statusCode === 401) {
      throw new ProblemError(
        'unauthenticated',
        'The Teams user token is invalid or expired; get a new one from Microsoft Entra ID.',
        {
          errors: [{ name: 'teamsUserAadToken', reason: 'was refused by Azure Communication Services' }],
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        },
      );
    }
    if (error instanceof AcsFailureError && error.statusCode === 400) {
      throw new ProblemError(
        'invalid-request',
        'Azure Communication Services refused the exchange: the Teams token must be issued to the application TEAMS_CLIENT_ID names, for the signed-in user (its oid).',
        {
          errors: [
            { name: 'teamsUserAadToken', reason: 'does not match the application or the signed-in user' },
          ],
        },
      );
    }
    throw error;
  }
}

export const issueTeamsTokenRoute: Route = defineRoute({
  name: 'issueTeamsToken',
  methods: ['POST'],
  route: 'token/teams',
  access: 'user',
  available: ({ services }) => void teamsClientId(services),
  inputs: {
    body: {
      schema: teamsTokenRequestSchema,
      missing: { detail: 'Send {"teamsUserAadToken": "..."} as the JSON body.', field: 'teamsUserAadToken' },
    },
  },
  operation: issueTeamsToken,
  docs: {
    summary: "An ACS token for the caller's own Teams user",
    description:
      "Exchanges the Teams user's Microsoft Entra ID token for an ACS token (app id TEAMS_CLIENT_ID, user id the " +
      "caller's verified oid). 400 when the input is malformed, the caller has no oid, a tenant id was sent as the " +
      'object id, or ACS refused the exchange; 401 when ACS found the Teams token invalid or expired; 404 when ' +
      'TEAMS_CLIENT_ID is not set. The Teams token is never logged.',
    tags: ['Tokens'],
    responses: {
      200: { description: 'The Teams user’s ACS token and its expiry.', body: teamsTokenResponseSchema },
    },
    problems: ['unauthenticated', 'not-found', 'upstream-failure', 'unavailable'],
  },
});
