import { type ZodError, z } from 'zod';
import type { AcsError } from './http.js';
import type { Scope, VersionFeatures } from './versions.js';

/** The exact message the service sends (and the SDK's own tests assert) for missing or empty scopes. */
export const scopesRequiredMessage = 'Invalid scopes - Scopes field is required.';
const expiryMessage = 'Invalid expiresInMinutes - the value must be an integer between 60 and 1440.';
const objectMessage = 'The request body must be a JSON object.';

function scopeList(features: VersionFeatures) {
  const scope = z.enum(features.scopes as [Scope, ...Scope[]], {
    error: (issue) =>
      `Invalid scopes - '${String(issue.input)}' is not a valid scope for api-version ${features.version}.`,
  });
  return z.array(scope, {
    error: (issue) =>
      issue.input === undefined || issue.input === null
        ? scopesRequiredMessage
        : 'Invalid scopes - Scopes must be an array.',
  });
}

function expiresInMinutes() {
  return z
    .number({ error: expiryMessage })
    .int({ error: expiryMessage })
    .min(60, { error: expiryMessage })
    .max(1440, {
      error: expiryMessage,
    });
}

export function createIdentitySchema(features: VersionFeatures) {
  return z.object(
    {
      createTokenWithScopes: scopeList(features).optional(),
      ...(features.customExpiry ? { expiresInMinutes: expiresInMinutes().optional() } : {}),
      ...(features.customId
        ? {
            customId: z
              .string({ error: 'Invalid customId - the value must be a string.' })
              .min(1)
              .max(256)
              .optional(),
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
      ...(features.customExpiry ? { expiresInMinutes: expiresInMinutes().optional() } : {}),
    },
    { error: objectMessage },
  );
}

function requiredString(field: string) {
  return z.string({ error: `Invalid ${field} - the field is required and must be a string.` });
}

export const teamsExchangeSchema = z.object(
  { token: requiredString('token'), appId: requiredString('appId'), userId: requiredString('userId') },
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

/** The service's error body for the first problem zod found, its target being the top-level field at fault. */
export function validationError(error: ZodError): AcsError {
  const issue = error.issues[0];
  const target = issue?.path[0];
  return {
    code: 'ValidationError',
    message: issue?.message ?? objectMessage,
    ...(typeof target === 'string' ? { target } : {}),
  };
}
