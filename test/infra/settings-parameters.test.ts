/**
 * Settings survive redeployments. The `Microsoft.Web/sites/config` resource named `appsettings` replaces the app's
 * whole settings list on every deployment (Azure/bicep#3058, Azure/azure-quickstart-templates#8495): a setting added in
 * the portal or with `az functionapp config appsettings set` is gone after the next `azd provision` or `azd up`.
 * So every setting the service documents is either set from a resource the Bicep creates, or a declared Bicep
 * parameter that main.parameters.json maps from the azd environment variable of the same name (azd substitutes
 * `${NAME}` / `${NAME=default}` from the environment: Azure/azure-dev cli/azd/pkg/infra/provisioning/bicep,
 * parameters files), or listed in docs/deploy.md's table of settings the deployment does not set, with the reason.
 * The list is driven by the schema and docs/settings.md, never by a copy here: a new setting fails this test until
 * it gets its parameter (name: the setting in camelCase) or its row.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/settings.js';
import { documentedSettings, INFRA_DIR, withoutComments } from './bicep-text.js';

/** Set from the resources main.bicep creates; azd env values for them would be overwritten anyway. */
const FROM_RESOURCES: readonly string[] = [
  'COMMUNICATION_SERVICES_ENDPOINT',
  'AZURE_CLIENT_ID',
  'IDENTITY_STORE',
  'IDENTITY_STORE_ENDPOINT',
  'IDENTITY_TABLE_NAME',
  'TOKEN_SEALING_KEY_URL',
  // infra/app/api.bicep, from Application Insights and the app's identity (src/tracing/ reads them).
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/** Settings the platform fills from the site's configuration, which a parameter sets instead of an app setting. */
const PLATFORM_FROM_PARAMETER: Readonly<Record<string, string>> = {
  CORS_ALLOWED_ORIGINS: 'corsAllowedOrigins', // siteConfig.cors.allowedOrigins (test/infra/flex-consumption.test.ts)
};

/** AUTH_USER_CLAIM → authUserClaim. */
const parameterName = (setting: string) =>
  setting.toLowerCase().replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** `NAME: value` lines at the top level of `var serviceSettings = { ... }`. */
function serviceSettingValues(main: string): Map<string, string> {
  const code = withoutComments(main);
  const start = code.indexOf('var serviceSettings = {');
  const block = code.slice(start, code.indexOf('\n}', start));
  return new Map(
    [...block.matchAll(/^ {2}([A-Za-z_][A-Za-z0-9_]*):\s*(.+)$/gm)].map((row) => [row[1]!, row[2]!.trim()]),
  );
}

interface Sources {
  settings: readonly string[];
  notDeployed: readonly string[];
  main: string;
  parameters: Record<string, { value: unknown }>;
}

/** What is wrong with how `setting` reaches the app, or undefined when it is kept across deployments. */
function problemWith(setting: string, sources: Sources): string | undefined {
  if (FROM_RESOURCES.includes(setting) || sources.notDeployed.includes(setting)) return undefined;
  const param = PLATFORM_FROM_PARAMETER[setting] ?? parameterName(setting);
  if (!new RegExp(`^param ${param} string\\b`, 'm').test(sources.main))
    return `${setting}: infra/main.bicep declares no \`param ${param} string = ''\``;
  const mapped = String(sources.parameters[param]?.value ?? '');
  if (!new RegExp(`^\\$\\{${setting}(=[^}]*)?\\}$`).test(mapped))
    return `${setting}: infra/main.parameters.json does not map ${param} from \${${setting}=}`;
  if (PLATFORM_FROM_PARAMETER[setting]) return undefined;
  if (serviceSettingValues(sources.main).get(setting) !== param)
    return `${setting}: serviceSettings in infra/main.bicep does not set ${setting}: ${param}`;
  return undefined;
}

describe('settings are deployment parameters, so a redeployment keeps them', () => {
  let sources: Sources;

  beforeAll(async () => {
    const settingsDoc = await readFile(path.resolve('docs/settings.md'), 'utf8');
    const documented = [...settingsDoc.matchAll(/^\| `([A-Za-z_][A-Za-z0-9_]*)` \|/gm)].map((row) => row[1]!);
    sources = {
      settings: [...new Set([...Object.keys(settingsSchema.shape), ...documented])],
      notDeployed: documentedSettings(await readFile(path.resolve('docs/deploy.md'), 'utf8')),
      main: await readFile(path.join(INFRA_DIR, 'main.bicep'), 'utf8'),
      parameters: JSON.parse(await readFile(path.join(INFRA_DIR, 'main.parameters.json'), 'utf8')).parameters,
    };
  });

  it('reads the settings, the parameters and the table of settings the deployment leaves out', () => {
    expect(sources.settings).toContain('TOKEN_SCOPES_BY_ROLE');
    expect(sources.notDeployed).toContain('COMMUNICATION_SERVICES_CONNECTION_STRING');
    expect(serviceSettingValues(sources.main).get('AUTH_USER_CLAIM')).toBe('authUserClaim');
  });

  it('maps every documented setting from the azd environment (or sets it from a resource, or says why not)', () => {
    expect(sources.settings.map((setting) => problemWith(setting, sources)).filter(Boolean)).toEqual([]);
  });

  it('keeps the settings whose loss hurts most: scopes by role, the user claim, Teams, reuse', () => {
    for (const setting of ['TOKEN_SCOPES_BY_ROLE', 'AUTH_USER_CLAIM', 'TEAMS_CLIENT_ID', 'TOKEN_REUSE']) {
      expect(sources.notDeployed).not.toContain(setting);
      expect(problemWith(setting, sources)).toBeUndefined();
    }
  });

  it('would catch a new setting with no parameter, an unmapped parameter, and a parameter not passed on', () => {
    expect(problemWith('AUTH_SOMETHING_NEW', sources)).toMatch(/declares no `param authSomethingNew string/);
    const unmapped = { ...sources, parameters: { ...sources.parameters, authUserClaim: { value: 'oid' } } };
    expect(problemWith('AUTH_USER_CLAIM', unmapped)).toMatch(/does not map authUserClaim/);
    const notPassed = { ...sources, main: sources.main.replace(/^ {2}AUTH_USER_CLAIM: .*$/m, '') };
    expect(problemWith('AUTH_USER_CLAIM', notPassed)).toMatch(/does not set AUTH_USER_CLAIM/);
  });
});
