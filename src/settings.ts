import { z } from 'zod';
import { acsScopeSchema } from './acs/scopes.js';
import { ANY_TENANT, TENANT_ID, TENANT_PLACEHOLDER } from './caller/issuers.js';
import { allowedOriginsSchema, platformAllowedOriginsSchema } from './http/cors-origins.js';
import { isLoopbackUrl } from './shared/loopback.js';
import { scopesByRoleSchema } from './tokens/scope-policy.js';

const DEFAULT_TABLE_NAME = 'AcsIdentities';

const optionalText = z.string().trim().min(1).optional();

/** An absolute http(s) URL; plain http only for loopback hosts, because production never talks plain HTTP. */
const secureUrl = z
  .string()
  .trim()
  .refine((value) => URL.canParse(value), 'must be an absolute URL')
  .refine(
    (value) => !URL.canParse(value) || ['https:', 'http:'].includes(new URL(value).protocol),
    'must be an http(s) URL',
  )
  .refine(
    (value) => !URL.canParse(value) || new URL(value).protocol === 'https:' || isLoopbackUrl(new URL(value)),
    'must use https (plain http is allowed for loopback addresses only)',
  );

const commaList = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const scopeList = z
  .string()
  .transform(commaList)
  .pipe(
    z
      .array(z.string())
      .min(1, 'must name at least one scope')
      .refine(
        (scopes) => scopes.every((scope) => acsScopeSchema.safeParse(scope).success),
        `must list only ACS scopes (${acsScopeSchema.options.join(', ')})`,
      )
      .transform((scopes) => [...new Set(scopes)] as z.infer<typeof acsScopeSchema>[]),
  );

const booleanText = z
  .string()
  .trim()
  .toLowerCase()
  .refine((value) => ['true', 'false', '1', '0'].includes(value), 'must be true or false')
  .transform((value) => value === 'true' || value === '1');

/**
 * A boolean as .NET's Convert.ToBoolean reads it ("true" or "false", any case, surrounding white space ignored;
 * anything else is an error), for settings the Functions host parses itself: the app must not read one the host
 * refuses, or read it differently (azure-functions-host, src/WebJobs.Script.WebHost/Configuration/
 * HostEasyAuthOptionsSetup.cs: `Convert.ToBoolean(... EasyAuthEnabled)`).
 */
const dotnetBooleanText = z
  .string()
  .trim()
  .toLowerCase()
  .refine(
    (value) => value === 'true' || value === 'false',
    'must be true or false, as the Functions host reads it',
  )
  .transform((value) => value === 'true');

const integerText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .refine((value) => /^\d+$/.test(value), `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((value) => value >= min && value <= max, `must be an integer from ${min} to ${max}`);

/**
 * A Key Vault key identifier, `https://<vault>/keys/<name>[/<version>]`, as Bicep's `keyUri` gives it. HTTPS only,
 * even on loopback: the Key Vault SDK sends a bearer token and refuses plain HTTP.
 */
const keyVaultKeyUrl = z
  .string()
  .trim()
  .refine(
    (value) =>
      URL.canParse(value) &&
      new URL(value).protocol === 'https:' &&
      new URL(value).search === '' &&
      new URL(value).hash === '' &&
      /^\/keys\/[A-Za-z0-9-]{1,127}(\/[A-Za-z0-9]{1,64})?$/.test(new URL(value).pathname),
    'must be a Key Vault key identifier (https://<vault>.vault.azure.net/keys/<name>[/<version>])',
  );

/** `endpoint=<url>;accesskey=<base64>`, in that order, as the ACS SDK parses it. */
const acsConnectionString = z
  .string()
  .trim()
  .refine(
    (value) => /^endpoint=[^;]+;accesskey=[A-Za-z0-9+/=]+$/i.test(value),
    'must have the form endpoint=<url>;accesskey=<key>',
  )
  .refine((value) => {
    const endpoint = /^endpoint=([^;]+);/i.exec(value)?.[1] ?? '';
    return secureUrl.safeParse(endpoint).success;
  }, 'must name an https endpoint (plain http is allowed for loopback addresses only)');

/** A storage connection string must not send Table traffic over plain HTTP to a non-loopback host. */
const storageConnectionString = z
  .string()
  .trim()
  .refine((value) => {
    const parts = new Map(
      value
        .split(';')
        .filter((part) => part.includes('='))
        .map((part) => {
          const index = part.indexOf('=');
          return [part.slice(0, index).trim().toLowerCase(), part.slice(index + 1).trim()] as const;
        }),
    );
    if (parts.get('usedevelopmentstorage') === 'true') return true;
    const tableEndpoint = parts.get('tableendpoint');
    if (tableEndpoint !== undefined) return secureUrl.safeParse(tableEndpoint).success;
    return parts.get('defaultendpointsprotocol')?.toLowerCase() !== 'http' && parts.has('accountname');
  }, 'must be a storage connection string using https (plain http is allowed for loopback addresses only)');

const EXAMPLE_TENANT = '00000000-0000-0000-0000-000000000000';

/** An issuer or key-set URL that may carry {tenantid} once, in its path, and is a secure URL with it filled in. */
const templatedUrl = z
  .string()
  .trim()
  .refine(
    (value) => value.split(TENANT_PLACEHOLDER).length <= 2,
    `must contain ${TENANT_PLACEHOLDER} at most once`,
  )
  .refine((value) => {
    const filled = value.replace(TENANT_PLACEHOLDER, EXAMPLE_TENANT);
    if (!secureUrl.safeParse(filled).success) return false;
    return !value.includes(TENANT_PLACEHOLDER) || new URL(filled).pathname.includes(EXAMPLE_TENANT);
  }, `must be an https URL (plain http for loopback only), with ${TENANT_PLACEHOLDER} only in its path`);

const entryText = z.string().trim().min(1, 'must not be empty');

/** One AUTH_ISSUERS entry. Field names are the JSON's; errors name the entry by index (AUTH_ISSUERS[1].tenants). */
const issuerEntrySchema = z
  .strictObject({
    issuer: templatedUrl,
    /** A string or a list; a token of this issuer must name one of them in `aud`. */
    audience: z.preprocess(
      (value) => (typeof value === 'string' ? [value] : value),
      z
        .array(entryText, { error: 'must be a string or a list of strings' })
        .min(1, 'must name at least one audience'),
    ),
    /** Default: OpenID discovery at `<issuer>/.well-known/openid-configuration`. */
    jwksUri: templatedUrl.optional(),
    /** Default: AUTH_USER_CLAIM. */
    userClaim: entryText.optional(),
    /** The claim holding the caller's roles (a JSON list of strings). Default: `roles`. */
    rolesClaim: entryText.optional(),
    /** For a {tenantid} issuer: the allowed tenant ids (`tid`), or ["*"]. */
    tenants: z
      .array(
        z
          .string()
          .trim()
          .refine(
            (value) => value === ANY_TENANT || TENANT_ID.test(value),
            'must list tenant ids (GUIDs) or "*"',
          ),
      )
      .min(1, 'must name at least one tenant id, or "*" for any tenant')
      .optional(),
  })
  .superRefine((entry, ctx) => {
    const issue = (message: string) =>
      ctx.addIssue({ code: 'custom', path: ['tenants'], message, input: undefined });
    const template = entry.issuer.includes(TENANT_PLACEHOLDER);
    if (template && entry.tenants === undefined) {
      issue(
        `is required when the issuer contains ${TENANT_PLACEHOLDER} (tenant ids, or ["*"] for any tenant)`,
      );
    }
    if (!template && entry.tenants !== undefined) {
      issue(`is only for an issuer that contains ${TENANT_PLACEHOLDER}`);
    }
    if (entry.tenants?.includes(ANY_TENANT) && entry.tenants.length > 1) {
      issue('must be ["*"] alone, or tenant ids without "*"');
    }
  })
  .transform(({ audience, tenants, ...entry }) => ({
    ...entry,
    audiences: [...new Set(audience)],
    ...(tenants === undefined
      ? {}
      : {
          tenants: tenants.includes(ANY_TENANT)
            ? ANY_TENANT
            : [...new Set(tenants.map((t) => t.toLowerCase()))],
        }),
  }));

/** AUTH_ISSUERS: a JSON array of issuer entries; two entries must not name the same issuer. */
const issuerListSchema = z
  .string()
  .transform((value, ctx): unknown => {
    try {
      return JSON.parse(value);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'is not valid JSON (it must be a JSON array of issuers)',
        input: undefined,
      });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(issuerEntrySchema, { error: 'must be a JSON array of issuers' })
      .min(1, 'must list at least one issuer'),
  )
  .superRefine((entries, ctx) => {
    entries.forEach((entry, index) => {
      const first = entries.findIndex((other) => other.issuer === entry.issuer);
      if (first !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'issuer'],
          message: `is already listed as AUTH_ISSUERS[${first}].issuer`,
          input: undefined,
        });
      }
    });
  });

/**
 * Every setting the service reads. The keys ARE the environment variable (app setting) names; other modules and
 * tests enumerate them, so a setting read anywhere else is a defect.
 */
export const settingsSchema = z.object({
  COMMUNICATION_SERVICES_CONNECTION_STRING: acsConnectionString.optional(),
  COMMUNICATION_SERVICES_ENDPOINT: secureUrl.optional(),
  AZURE_CLIENT_ID: optionalText,
  AUTH_MODE: z.enum(['jwt', 'easyauth', 'anonymous']).default('jwt'),
  AUTH_ISSUER: secureUrl.optional(),
  AUTH_AUDIENCE: z
    .string()
    .transform(commaList)
    .pipe(z.array(z.string()).min(1, 'must name at least one audience'))
    .optional(),
  AUTH_JWKS_URI: secureUrl.optional(),
  AUTH_ISSUERS: issuerListSchema.optional(),
  AUTH_USER_CLAIM: z.string().trim().min(1).default('oid'),
  AUTH_REQUIRED_SCOPE: optionalText,
  AUTH_ADMIN_ROLE: optionalText,
  AUTH_ADMIN_REACH: z.enum(['all-issuers', 'own-issuer']).default('all-issuers'),
  TEAMS_CLIENT_ID: z
    .string()
    .trim()
    .refine(
      (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value),
      'must be a GUID (the client id of the Entra application Teams users sign in to)',
    )
    .optional(),
  WEBSITE_AUTH_ENABLED: dotnetBooleanText.default(false),
  TOKEN_ALLOWED_SCOPES: scopeList.default(['chat', 'voip']),
  TOKEN_DEFAULT_SCOPES: scopeList.default(['chat', 'voip']),
  TOKEN_DEFAULT_EXPIRES_IN_MINUTES: integerText(60, 1440).default(60),
  TOKEN_SCOPES_BY_ROLE: scopesByRoleSchema.optional(),
  TOKEN_REUSE: booleanText.default(true),
  TOKEN_REUSE_MAX_ENTRIES: integerText(1, 1_000_000).default(10_000),
  TOKEN_SEALING_KEY_URL: keyVaultKeyUrl.optional(),
  IDENTITY_STORE: z.enum(['table', 'memory']).optional(),
  IDENTITY_STORE_CONNECTION_STRING: storageConnectionString.optional(),
  AzureWebJobsStorage: storageConnectionString.optional(),
  IDENTITY_STORE_ENDPOINT: secureUrl.optional(),
  IDENTITY_TABLE_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'must be 3 to 63 letters or digits, starting with a letter')
    .default(DEFAULT_TABLE_NAME),
  REQUEST_TIMEOUT_MS: integerText(100, 120_000).default(10_000),
  APP_CORS_ALLOWED_ORIGINS: allowedOriginsSchema.default([]),
  CORS_ALLOWED_ORIGINS: platformAllowedOriginsSchema.optional(),
  RATE_LIMIT_PER_MINUTE: integerText(1, 100_000).default(60),
  // Telemetry (src/tracing/): off unless one of these is set; the OpenTelemetry SDK reads the other OTEL_* itself.
  APPLICATIONINSIGHTS_CONNECTION_STRING: optionalText,
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: optionalText,
  OTEL_EXPORTER_OTLP_ENDPOINT: secureUrl.optional(),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_SDK_DISABLED: booleanText.default(false),
});

type RawSettings = z.output<typeof settingsSchema>;

/** Rules across settings; run only once every setting is valid on its own, so one mistake gives one message. */
function checkCombinations(raw: RawSettings, ctx: z.RefinementCtx): boolean {
  let valid = true;
  const fail = (setting: keyof RawSettings, message: string) => {
    valid = false;
    ctx.addIssue({ code: 'custom', path: [setting], message, input: undefined });
  };

  const hasConnectionString = raw.COMMUNICATION_SERVICES_CONNECTION_STRING !== undefined;
  const hasEndpoint = raw.COMMUNICATION_SERVICES_ENDPOINT !== undefined;
  if (!hasConnectionString && !hasEndpoint) {
    fail(
      'COMMUNICATION_SERVICES_CONNECTION_STRING',
      'is required (or set COMMUNICATION_SERVICES_ENDPOINT to use a managed identity)',
    );
  }
  if (hasConnectionString && hasEndpoint) {
    fail(
      'COMMUNICATION_SERVICES_ENDPOINT',
      'must not be set together with COMMUNICATION_SERVICES_CONNECTION_STRING',
    );
  }

  if (raw.AUTH_ISSUERS !== undefined) {
    for (const single of ['AUTH_ISSUER', 'AUTH_AUDIENCE', 'AUTH_JWKS_URI'] as const) {
      if (raw[single] === undefined) continue;
      fail('AUTH_ISSUERS', `must not be set together with ${single} (move that issuer into the list)`);
      fail(single, 'must not be set together with AUTH_ISSUERS (move this issuer into the list)');
    }
  } else if (raw.AUTH_MODE === 'jwt') {
    if (raw.AUTH_ISSUER === undefined)
      fail('AUTH_ISSUER', 'is required when AUTH_MODE is jwt (or set AUTH_ISSUERS)');
    if (raw.AUTH_AUDIENCE === undefined)
      fail('AUTH_AUDIENCE', 'is required when AUTH_MODE is jwt (or set AUTH_ISSUERS)');
  }
  if (raw.AUTH_MODE === 'easyauth' && !raw.WEBSITE_AUTH_ENABLED) {
    fail(
      'AUTH_MODE',
      'is easyauth but App Service Authentication is off (WEBSITE_AUTH_ENABLED is not true), so principal headers cannot be trusted',
    );
  }

  const allowed = new Set(raw.TOKEN_ALLOWED_SCOPES);
  if (!raw.TOKEN_DEFAULT_SCOPES.every((scope) => allowed.has(scope))) {
    fail('TOKEN_DEFAULT_SCOPES', 'must be a subset of TOKEN_ALLOWED_SCOPES');
  }

  if (raw.IDENTITY_STORE === 'table' && storageConnection(raw) === undefined) {
    fail(
      'IDENTITY_STORE',
      'is table but no storage is configured (set IDENTITY_STORE_CONNECTION_STRING, AzureWebJobsStorage or IDENTITY_STORE_ENDPOINT)',
    );
  }
  const storeIsTable =
    raw.IDENTITY_STORE !== 'memory' &&
    (raw.IDENTITY_STORE === 'table' || storageConnection(raw) !== undefined);
  if (raw.TOKEN_SEALING_KEY_URL !== undefined && !storeIsTable) {
    fail(
      'TOKEN_SEALING_KEY_URL',
      'needs the table identity store (sealed tokens are shared through the identity table; in memory there is nothing to share)',
    );
  }
  return valid;
}

function storageConnection(raw: RawSettings) {
  const connectionString = raw.IDENTITY_STORE_CONNECTION_STRING ?? raw.AzureWebJobsStorage;
  if (raw.IDENTITY_STORE_CONNECTION_STRING === undefined && raw.IDENTITY_STORE_ENDPOINT !== undefined) {
    return { kind: 'endpoint' as const, endpoint: raw.IDENTITY_STORE_ENDPOINT };
  }
  if (connectionString !== undefined) return { kind: 'connectionString' as const, connectionString };
  return undefined;
}

export type IssuerEntry = z.output<typeof issuerEntrySchema>;

/**
 * The issuers AUTH_MODE=jwt trusts, each with its own claims: AUTH_ISSUERS as given, or AUTH_ISSUER and
 * AUTH_AUDIENCE as a one-entry list (the same issuer string, so existing users keep their keys).
 */
function trustedIssuers(raw: RawSettings): (IssuerEntry & { userClaim: string })[] {
  const entries: IssuerEntry[] = raw.AUTH_ISSUERS ?? [
    { issuer: raw.AUTH_ISSUER ?? '', audiences: raw.AUTH_AUDIENCE ?? [], jwksUri: raw.AUTH_JWKS_URI },
  ];
  return entries.map((entry) => ({ ...entry, userClaim: entry.userClaim ?? raw.AUTH_USER_CLAIM }));
}

function toSettings(raw: RawSettings) {
  const acs = raw.COMMUNICATION_SERVICES_CONNECTION_STRING
    ? { kind: 'connectionString' as const, connectionString: raw.COMMUNICATION_SERVICES_CONNECTION_STRING }
    : {
        kind: 'managedIdentity' as const,
        endpoint: raw.COMMUNICATION_SERVICES_ENDPOINT ?? '',
        clientId: raw.AZURE_CLIENT_ID,
      };

  const claimRules = { userClaim: raw.AUTH_USER_CLAIM, requiredScope: raw.AUTH_REQUIRED_SCOPE };
  const auth =
    raw.AUTH_MODE === 'jwt'
      ? { mode: 'jwt' as const, issuers: trustedIssuers(raw), ...claimRules }
      : raw.AUTH_MODE === 'easyauth'
        ? { mode: 'easyauth' as const, ...claimRules }
        : { mode: 'anonymous' as const };

  const connection = storageConnection(raw);
  const storeKind = raw.IDENTITY_STORE ?? (connection ? 'table' : 'memory');
  const store =
    storeKind === 'memory' || connection === undefined
      ? { kind: 'memory' as const }
      : {
          kind: 'table' as const,
          connection:
            connection.kind === 'endpoint' ? { ...connection, clientId: raw.AZURE_CLIENT_ID } : connection,
          tableName: raw.IDENTITY_TABLE_NAME,
        };

  return {
    acs,
    auth,
    tokens: {
      allowedScopes: raw.TOKEN_ALLOWED_SCOPES,
      defaultScopes: raw.TOKEN_DEFAULT_SCOPES,
      defaultExpiresInMinutes: raw.TOKEN_DEFAULT_EXPIRES_IN_MINUTES,
      scopesByRole: raw.TOKEN_SCOPES_BY_ROLE,
      reuse: {
        enabled: raw.TOKEN_REUSE,
        maxEntries: raw.TOKEN_REUSE_MAX_ENTRIES,
        /** The Key Vault key the key sealing shared reusable tokens derives from (src/tokens/sealing/). */
        sealingKey: raw.TOKEN_SEALING_KEY_URL
          ? { keyUrl: raw.TOKEN_SEALING_KEY_URL, clientId: raw.AZURE_CLIENT_ID }
          : undefined,
      },
    },
    store,
    requestTimeoutMs: raw.REQUEST_TIMEOUT_MS,
    /** The app answers CORS for allowedOrigins, except those the platform in front answers (platformOrigins). */
    cors: { allowedOrigins: raw.APP_CORS_ALLOWED_ORIGINS, platformOrigins: raw.CORS_ALLOWED_ORIGINS ?? [] },
    rateLimit: { perMinute: raw.RATE_LIMIT_PER_MINUTE },
    /** Absent: the admin routes are off. */
    adminRole: raw.AUTH_ADMIN_ROLE,
    /** Whose users an admin may act on: every configured issuer's, or only those of the issuer that verified it. */
    adminReach: raw.AUTH_ADMIN_REACH,
    /** Absent: POST /api/token/teams answers that Teams users are not configured. */
    teamsClientId: raw.TEAMS_CLIENT_ID,
    /** AZURE_CLIENT_ID: the user-assigned managed identity of the process's one credential (src/shared/credential.ts). */
    managedIdentityClientId: raw.AZURE_CLIENT_ID,
  };
}

const settingsParser = settingsSchema.transform((raw, ctx) =>
  checkCombinations(raw, ctx) ? toSettings(raw) : z.NEVER,
);

export type Settings = Readonly<z.output<typeof settingsParser>>;

/** Names every bad setting and why, never a value (zod's own messages may quote the input, so none is used). */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  readonly settingNames: readonly string[];

  constructor(readonly problems: readonly { setting: string; reason: string }[]) {
    super(`Invalid settings: ${problems.map(({ setting, reason }) => `${setting} ${reason}`).join('; ')}`);
    this.settingNames = [...new Set(problems.map(({ setting }) => setting))];
  }
}

/** The setting an issue is about; inside a JSON setting, down to its entry and field: `AUTH_ISSUERS[1].tenants`. */
function settingPath(path: readonly PropertyKey[]): string {
  const [setting = 'settings', ...inside] = path;
  return inside.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : `${name}.${String(key)}`),
    String(setting),
  );
}

function reasonFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `has unknown fields (${issue.keys.join(', ')})`;
    case 'invalid_type':
      // A setting itself is text, so a wrong type is a missing one; a field inside a JSON setting may be either.
      if (issue.message.startsWith('must')) return issue.message;
      if (issue.path.length > 1 && !issue.message.endsWith('received undefined')) {
        return `must be a ${issue.expected === 'object' ? 'JSON object' : issue.expected === 'array' ? 'list' : issue.expected}`;
      }
      return 'is required';
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    case 'custom':
      return issue.message;
    case 'invalid_format':
      return `is not a valid ${issue.format}`;
    case 'too_small':
    case 'too_big':
      return issue.message.startsWith('must') ? issue.message : 'has a value out of range';
    default:
      return 'is invalid';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Reads and validates every setting. Empty values count as unset, as App Service shows a cleared setting as ''.
 * Throws SettingsError naming each bad setting.
 */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const input: Record<string, string> = {};
  for (const name of Object.keys(settingsSchema.shape)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') input[name] = value;
  }
  const result = settingsParser.safeParse(input);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((issue) => ({
        setting: settingPath(issue.path),
        reason: reasonFor(issue),
      })),
    );
  }
  return deepFreeze(result.data);
}
