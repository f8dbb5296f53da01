import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { type AcsScope, acsScopeSchema } from '../acs/scopes.js';
import { defineRoute, type Route, type UserScope } from '../app-services.js';
import type { Inputs } from '../http/define-route.js';
import { ProblemError } from '../http/problem.js';
import { issueTokenForAnonymous, issueTokenForUser } from '../identities/provisioning.js';
import { decideScopes } from '../tokens/scope-policy.js';
import type { TokenOrder } from '../tokens/tokens.js';

const EXPIRY_RULE = 'must be an integer from 60 to 1440';
const SCOPE_RULE = `must be one of: ${acsScopeSchema.options.join(', ')}`;
/** Field descriptions for the OpenAPI document (GET /api/openapi.json). */
const SCOPES_DOC = `ACS scopes, each one of: ${acsScopeSchema.options.join(', ')}. Default: TOKEN_DEFAULT_SCOPES.`;
const EXPIRY_DOC = 'Token lifetime in minutes, 60 to 1440. Default: TOKEN_DEFAULT_EXPIRES_IN_MINUTES.';

const scopesField = z
  .array(z.string().refine((scope) => acsScopeSchema.safeParse(scope).success, SCOPE_RULE))
  .min(1, 'must name at least one scope')
  .max(acsScopeSchema.options.length * 2, 'names too many scopes')
  .transform((scopes) => [...new Set(scopes)] as AcsScope[]);

const expiresInMinutesField = z.number().int(EXPIRY_RULE).min(60, EXPIRY_RULE).max(1440, EXPIRY_RULE);

/** POST body: both fields optional; unknown fields are refused so a typo is not silently ignored. */
export const tokenRequestBodySchema = z.strictObject({
  scopes: scopesField.optional().meta({ description: SCOPES_DOC }),
  expiresInMinutes: expiresInMinutesField.optional().meta({ description: EXPIRY_DOC }),
});

/** GET query, for clients written against the tutorial: `?scopes=chat,voip&expiresInMinutes=60`. */
export const tokenRequestQuerySchema = z.object({
  scopes: z
    .string()
    .transform((value) => value.split(',').map((scope) => scope.trim()))
    .pipe(scopesField)
    .optional()
    .meta({ description: `Comma-separated ${SCOPES_DOC}` }),
  expiresInMinutes: z
    .string()
    .transform((value) => (/^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN))
    .pipe(z.number(EXPIRY_RULE).pipe(expiresInMinutesField))
    .optional()
    .meta({ description: EXPIRY_DOC }),
});

export const tokenResponseSchema = z.object({
  user: z.object({ communicationUserId: z.string() }),
  token: z.string(),
  expiresOn: z.iso.datetime({ offset: true }),
});

/** POST /api/token and GET /api/token: a token for the caller's one ACS identity. */
export async function issueToken(
  { services, acs, caller, log }: UserScope,
  inputs: Inputs<typeof tokenRequestQuerySchema, typeof tokenRequestBodySchema, z.ZodType>,
): Promise<HttpResponseInit> {
  const asked = inputs.query ?? inputs.body;
  const { tokens } = services.settings;
  const decision = decideScopes(tokens, caller.roles, asked?.scopes);
  if (!decision.granted) {
    throw new ProblemError('forbidden', `You may not be issued the scopes: ${decision.refused.join(', ')}.`, {
      reason: 'scope_not_allowed',
    });
  }
  const order: TokenOrder = {
    scopes: decision.scopes,
    expiresInMinutes: asked?.expiresInMinutes ?? tokens.defaultExpiresInMinutes,
  };

  const grant = caller.anonymous
    ? await issueTokenForAnonymous(acs, order)
    : await issueTokenForUser({ store: services.store, acs, log, reuse: services.reuse }, caller, order);

  const body: z.input<typeof tokenResponseSchema> = {
    user: { communicationUserId: grant.communicationUserId },
    token: grant.token,
    expiresOn: grant.expiresOn.toISOString(),
  };
  return { status: 200, jsonBody: body };
}

/** The route: GET and POST /api/token. */
export const issueTokenRoute: Route = defineRoute({
  name: 'issueToken',
  methods: ['GET', 'POST'],
  route: 'token',
  access: 'user',
  inputs: { query: tokenRequestQuerySchema, body: { schema: tokenRequestBodySchema } },
  operation: issueToken,
  docs: {
    summary: "A token for the caller's one ACS identity",
    description:
      'The first request of a user creates its ACS identity; later ones reuse it. Scopes must be allowed by ' +
      'TOKEN_ALLOWED_SCOPES (else 403); both inputs default to the service settings.',
    tags: ['Tokens'],
    responses: {
      200: {
        description: 'The token, its expiry and the identity it belongs to.',
        body: tokenResponseSchema,
      },
    },
    problems: ['forbidden', 'upstream-failure', 'unavailable'],
    methods: {
      GET: { summary: "A token for the caller's one ACS identity (query string, as in the ACS tutorial)" },
    },
  },
});
