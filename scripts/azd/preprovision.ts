/**
 * The azd `preprovision` hook (azure.yaml): runs before every `azd provision` / `azd up`, with the azd environment's
 * values in its process environment, and azd reloads the environment after it (Azure/azure-dev
 * cli/azd/pkg/ext/hooks_runner.go: RunHooks reloads after each hook), so what it sets here reaches the Bicep.
 *
 * 1. Checks the values main.parameters.json maps into the deployment, with the service's own rules: a bad value
 *    stops `azd up` here, naming the variable (never its value), instead of deploying an app that answers 503.
 *    CORS_ALLOWED_ORIGINS must be exact origins: the platform's CORS (ASP.NET Core's CorsPolicyBuilder in the
 *    Functions host) does not drop a trailing slash, so `https://app.contoso.com/` would never match a browser's
 *    `Origin`.
 * 2. Registers or updates the Entra application (scripts/azd/entra-app.ts) and stores in the azd environment what
 *    the service and clients need. Skipped when ENTRA_APP_REGISTRATION=false, or when AUTH_AUDIENCE was set by hand
 *    for another identity provider.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { AzureDeveloperCliCredential } from '@azure/identity';
import { decodeJwt } from 'jose';
import { allowedOriginsSchema } from '../../src/http/cors-origins.js';
import { settingsSchema } from '../../src/settings.js';
import { ADMIN_ROLE, API_SCOPE, ensureEntraApp, type GraphOptions } from './entra-app.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

type Env = Record<string, string | undefined>;

/** azd environment variables main.parameters.json maps into the deployment (`${NAME}` or `${NAME=default}`). */
export async function mappedVariables(): Promise<string[]> {
  const text = await readFile(path.join(REPO_ROOT, 'infra/main.parameters.json'), 'utf8');
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=[^}]*)?\}/g)].map((match) => match[1]!);
}

/** Deployment knobs that are not service settings, and what their values must be. */
const DEPLOYMENT_VALUES: Readonly<Record<string, { pattern: RegExp; rule: string }>> = {
  ALWAYS_READY_HTTP_INSTANCES: { pattern: /^\d{1,3}$/, rule: 'must be a whole number (0: none)' },
  MAXIMUM_INSTANCE_COUNT: { pattern: /^([1-9]\d{0,2}|1000)$/, rule: 'must be a whole number from 1 to 1000' },
  INSTANCE_MEMORY_MB: { pattern: /^(512|2048|4096)$/, rule: 'must be 512, 2048 or 4096' },
  HTTP_PER_INSTANCE_CONCURRENCY: {
    pattern: /^\d{1,4}$/,
    rule: 'must be a whole number (0: the platform default)',
  },
  ENABLE_SOURCE_MAPS: { pattern: /^(true|false)$/, rule: 'must be true or false' },
  KEY_VAULT_PURGE_PROTECTION: { pattern: /^(true|false)$/, rule: 'must be true or false' },
};

/** Every problem with the values the deployment will use, as `NAME reason` (never the value). */
export function deploymentProblems(env: Env, variables: readonly string[]): string[] {
  const problems: string[] = [];
  const settings = settingsSchema.shape as Record<string, { safeParse(value: unknown): SafeParse }>;
  for (const name of variables) {
    const value = env[name]?.trim();
    if (!value) continue;
    if (name === 'CORS_ALLOWED_ORIGINS') {
      // The platform list, given as a comma list here; the same rules as the service's own list.
      problems.push(...reasons(name, allowedOriginsSchema.safeParse(value)));
    } else if (DEPLOYMENT_VALUES[name]) {
      if (!DEPLOYMENT_VALUES[name].pattern.test(value))
        problems.push(`${name} ${DEPLOYMENT_VALUES[name].rule}`);
    } else if (settings[name]) {
      problems.push(...reasons(name, settings[name].safeParse(value)));
    }
  }
  return problems;
}

interface SafeParse {
  success: boolean;
  error?: { issues: readonly { code: string; message: string }[] };
}

/** zod's own messages may quote the input, so only the schema's custom messages are used. */
function reasons(name: string, result: SafeParse): string[] {
  if (result.success) return [];
  return [
    ...new Set(
      (result.error?.issues ?? []).map(
        (issue) => `${name} ${issue.code === 'custom' ? issue.message : 'is invalid'}`,
      ),
    ),
  ];
}

export interface PreprovisionDependencies {
  /** A Microsoft Graph access token of the signed-in azd user. */
  graphToken(env: Env): Promise<string>;
  /** `azd env set NAME VALUE` for the current environment. */
  setEnv(name: string, value: string): Promise<void>;
  graph?: Omit<GraphOptions, 'token'>;
}

/** Whether the hook registers the Entra application for this environment. */
export function registersEntraApp(env: Env): boolean {
  if (env.ENTRA_APP_REGISTRATION?.trim().toLowerCase() === 'false') return false;
  // AUTH_ISSUERS names the trusted issuers itself (docs/identity-providers.md): AUTH_ISSUER must then stay unset.
  if (env.AUTH_ISSUERS?.trim()) return false;
  // AUTH_AUDIENCE set by hand (not by an earlier run of this hook) means another identity provider.
  return !(env.AUTH_AUDIENCE?.trim() && !env.ENTRA_API_CLIENT_ID?.trim());
}

/** Registers the application and stores the values; values the user set stay as they are. */
export async function registerEntraApp(env: Env, deps: PreprovisionDependencies): Promise<void> {
  const environmentName = env.AZURE_ENV_NAME ?? 'default';
  const uniqueName =
    env.ENTRA_APP_UNIQUE_NAME?.trim() ||
    `acs-token-service-${environmentName}-${randomBytes(4).toString('hex')}`.toLowerCase();
  const token = await deps.graphToken(env);
  const tenantId = String(decodeJwt(token).tid ?? '');
  const origins = allowedOriginsSchema.safeParse(env.CORS_ALLOWED_ORIGINS ?? '');
  const extraRedirects = (env.ENTRA_SPA_REDIRECT_URIS ?? '')
    .split(',')
    .map((uri) => uri.trim())
    .filter(Boolean);
  const app = await ensureEntraApp(
    {
      uniqueName,
      displayName: `ACS token service (${environmentName})`,
      spaRedirectUris: [...new Set([...(origins.success ? origins.data : []), ...extraRedirects])],
    },
    { token, ...deps.graph },
  );

  const values: [string, string, 'always' | 'if-unset'][] = [
    ['ENTRA_APP_UNIQUE_NAME', uniqueName, 'always'],
    ['ENTRA_API_CLIENT_ID', app.appId, 'always'],
    ['ENTRA_API_SCOPE', app.scope, 'always'],
    ['ENTRA_TENANT_ID', tenantId, 'always'],
    ['AUTH_ISSUER', `https://login.microsoftonline.com/${tenantId}/v2.0`, 'if-unset'],
    // v2.0 access tokens carry the API's client id as `aud`.
    ['AUTH_AUDIENCE', app.appId, 'if-unset'],
    ['AUTH_REQUIRED_SCOPE', API_SCOPE, 'if-unset'],
    ['AUTH_ADMIN_ROLE', ADMIN_ROLE, 'if-unset'],
  ];
  for (const [name, value, when] of values) {
    if (when === 'if-unset' && env[name]?.trim()) continue;
    if (env[name] !== value) await deps.setEnv(name, value);
  }
}

export async function preprovision(env: Env, deps: PreprovisionDependencies): Promise<string[]> {
  const problems = deploymentProblems(env, await mappedVariables());
  if (problems.length > 0) return problems;
  if (registersEntraApp(env)) await registerEntraApp(env, deps);
  return [];
}

const run = promisify(execFile);

const azdDependencies: PreprovisionDependencies = {
  async graphToken(env) {
    const credential = new AzureDeveloperCliCredential({ tenantId: env.AZURE_TENANT_ID || undefined });
    const token = await credential.getToken('https://graph.microsoft.com/.default');
    return token.token;
  },
  async setEnv(name, value) {
    const args = ['env', 'set', name, value];
    if (process.env.AZURE_ENV_NAME) args.push('--environment', process.env.AZURE_ENV_NAME);
    await run('azd', args);
  },
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const problems = await preprovision(process.env, azdDependencies);
    if (problems.length > 0) {
      console.error(
        'preprovision: fix these azd environment values (azd env set NAME value), then run again:',
      );
      for (const problem of problems) console.error(`  ${problem}`);
      process.exit(1);
    }
  } catch (error) {
    console.error(`preprovision: ${(error as Error).message}`);
    process.exit(1);
  }
}
