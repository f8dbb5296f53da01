import { type ZodError, z } from 'zod';
import type { AcsError } from './http.js';
import type { Scope, VersionFeatures } from './versions.js';

/**
 * The message the service sends (and the JS SDK's own test asserts) for an empty scopes array. A missing or null
 * `scopes` is refused earlier, by model binding, with `requiredFieldError`'s message instead.
 */
export const scopesRequiredMessage = 'Invalid scopes - Scopes field is required.';
const expiryTypeMessage = 'Invalid expiresInMinutes - the value must be an integer between 60 and 1440.';
const objectMessage = 'The request body must be a JSON object.';
const minExpiryMinutes = 60;
const maxExpiryMinutes = 1440;

function scopeList(features: VersionFeatures) {
  const scope = z.enum(features.scopes as [Scope, ...Scope[]], {
    error: (issue) =>
      `Invalid scopes - '${String(issue.input)}' is not a valid scope for api-version ${features.version}.`,
  });
  return z.array(scope, { error: 'Invalid scopes - Scopes must be an array.' });
}

/**
 * Out of range, the service answers (Python SDK recordings, test_get_token_with_invalid_custom_expirations and
 * test_create_user_and_token_with_invalid_custom_expirations): `ExpiresInMinutes value 59 is invalid. Value must be
 * within the [60, 1440] interval.` with target `ExpiresInMinutes`. A value of the wrong type has no recording.
 */
function expiresInMinutes() {
  return z
    .number({ error: expiryTypeMessage })
    .int({ error: expiryTypeMessage })
    .superRefine((minutes, ctx) => {
      if (minutes >= minExpiryMinutes && minutes <= maxExpiryMinutes) return;
      ctx.addIssue({
        code: 'custom',
        message: `ExpiresInMinutes value ${minutes} is invalid. Value must be within the [${minExpiryMinutes}, ${maxExpiryMinutes}] interval.`,
        params: { target: 'ExpiresInMinutes' },
      });
    });
}

/** Optional fields accept JSON null as absent, as the service does (the Python SDK sends `"expiresInMinutes": null`). */
export function createIdentitySchema(features: VersionFeatures) {
  return z.object(
    {
      createTokenWithScopes: scopeList(features).nullish(),
      ...(features.customExpiry ? { expiresInMinutes: expiresInMinutes().nullish() } : {}),
      ...(features.customId
        ? {
            customId: z
              .string({ error: 'Invalid customId - the value must be a string.' })
              .min(1)
              .max(256)
              .nullish(),
          }
        : {}),
    },
    { error: objectMessage },
  );
}

export function issueTokenSchema(features: VersionFeatures) {
  return z.object(
    {
      scopes: scopeList(features).min(1, { error: scopesRequiredMessage }),
      ...(features.customExpiry ? { expiresInMinutes: expiresInMinutes().nullish() } : {}),
    },
    { error: objectMessage },
  );
}

export const teamsExchangeSchema = z.object(
  {
    token: z.string().nullish(),
    appId: z.string({ error: 'Invalid appId - the value must be a string.' }),
    userId: z.string({ error: 'Invalid userId - the value must be a string.' }),
  },
  { error: objectMessage },
);

export const introspectSchema = z.object({ token: z.string() }, { error: objectMessage });

export const teamsUserSchema = z.object(
  {
    appId: z.string().min(1),
    userId: z.string().min(1),
    tenantId: z.string().min(1).optional(),
    expiresInSeconds: z.number().int().min(-86_400).max(86_400).optional(),
  },
  { error: objectMessage },
);

/**
 * The service's model binding refuses a required field that is missing, null or an empty string before its own
 * validation runs, in ASP.NET's words with the field in PascalCase: `Scopes: The Scopes field is required.`, target
 * `Scopes` (Python SDK recording test_get_token_with_no_scopes; `AppId` and `UserId` likewise in
 * test_get_token_for_teams_user_with_invalid_client_id[empty_client_id-] and ..._invalid_user_object_id[empty_...]).
 */
export function requiredFieldError(body: unknown, fields: readonly string[]): AcsError | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  const missing = fields.find(
    (field) => record[field] === undefined || record[field] === null || record[field] === '',
  );
  if (missing === undefined) return undefined;
  const name = missing.charAt(0).toUpperCase() + missing.slice(1);
  return { code: 'ValidationError', message: `${name}: The ${name} field is required.`, target: name };
}

/** The service's error body for the first problem zod found, its target being the field at fault. */
export function validationError(error: ZodError): AcsError {
  const issue = error.issues[0];
  const recordedTarget = issue?.code === 'custom' ? issue.params?.target : undefined;
  const target = typeof recordedTarget === 'string' ? recordedTarget : issue?.path[0];
  return {
    code: 'ValidationError',
    message: issue?.message ?? objectMessage,
    ...(typeof target === 'string' ? { target } : {}),
  };
}
