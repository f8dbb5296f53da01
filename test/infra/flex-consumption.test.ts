/**
 * Flex Consumption rules the Bicep must follow. No ARM or Bicep runs here, so the rules are checked against the
 * Bicep text, each beside the source it comes from.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  INFRA_DIR,
  objectVariableKeys,
  readBicepFiles,
  resourceBlocks,
  withoutComments,
} from './bicep-text.js';

/**
 * Learn, "App settings reference for Azure Functions", section "Flex Consumption plan deprecations": site properties
 * that Flex Consumption apps must not set (the runtime, scale and package location moved to functionAppConfig; FTP,
 * the vnet* switches and the rest are not part of the plan). Read from the docs' source, MicrosoftDocs/azure-docs
 * `articles/azure-functions/functions-app-settings.md` (ms.date 07/11/2025; as mirrored at
 * xtqqczze/MicrosoftDocs-azure-docs 025a55b), and copied here name for name.
 */
const DEPRECATED_SITE_PROPERTIES = [
  'alwaysOn',
  'containerSize',
  'ftpsState',
  'isReserved',
  'IsXenon',
  'javaVersion',
  'linuxFxVersion',
  'netFrameworkVersion',
  'powerShellVersion',
  'functionAppScaleLimit',
  'preWarmedInstanceCount',
  'use32BitWorkerProcess',
  'vnetBackupRestoreEnabled',
  'vnetContentShareEnabled',
  'vnetImagePullEnabled',
  'vnetRouteAllEnabled',
  'windowsFxVersion',
] as const;

/** The same section: app settings Flex Consumption ignores or refuses. */
const DEPRECATED_APP_SETTINGS = [
  'ENABLE_ORYX_BUILD',
  'FUNCTIONS_EXTENSION_VERSION',
  'FUNCTIONS_MAX_HTTP_CONCURRENCY',
  'FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED',
  'FUNCTIONS_WORKER_PROCESS_COUNT',
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTOVERVNET',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_DNS_SERVER',
  'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_SKIP_CONTENTSHARE_VALIDATION',
  'WEBSITE_VNET_ROUTE_ALL',
] as const;

/** Property keys (`name:` at the start of a line) used anywhere in the Bicep, comments left out. */
function propertyKeys(code: string): Set<string> {
  return new Set(
    [...code.matchAll(/^\s*'?([A-Za-z_][\w]*)'?\s*:/gm)].map((match) => match[1]!.toLowerCase()),
  );
}

describe('Flex Consumption: no deprecated property or setting', () => {
  let code: string;
  let appSettings: string[];

  beforeAll(async () => {
    code = [...(await readBicepFiles()).values()].map(withoutComments).join('\n');
    appSettings = [
      ...objectVariableKeys(await readFile(path.join(INFRA_DIR, 'main.bicep'), 'utf8'), 'serviceSettings'),
      ...objectVariableKeys(
        await readFile(path.join(INFRA_DIR, 'app/api.bicep'), 'utf8'),
        'platformSettings',
      ),
    ];
  });

  it('sets none of the deprecated site properties (ftpsState among them)', () => {
    const keys = propertyKeys(code);
    expect(DEPRECATED_SITE_PROPERTIES.filter((name) => keys.has(name.toLowerCase()))).toEqual([]);
    expect(keys.has('minTlsVersion'.toLowerCase())).toBe(true); // the reader does see siteConfig's keys
  });

  it('would see a deprecated property come back', () => {
    const keys = propertyKeys(
      withoutComments("siteConfig: {\n  ftpsState: 'Disabled'\n  // alwaysOn: true\n}"),
    );
    expect(DEPRECATED_SITE_PROPERTIES.filter((name) => keys.has(name.toLowerCase()))).toEqual(['ftpsState']);
  });

  it('sets none of the deprecated app settings, and names none anywhere in the Bicep', () => {
    expect(appSettings.length).toBeGreaterThan(5);
    expect(
      appSettings.filter((name) => (DEPRECATED_APP_SETTINGS as readonly string[]).includes(name)),
    ).toEqual([]);
    expect(DEPRECATED_APP_SETTINGS.filter((name) => code.includes(name))).toEqual([]);
  });

  it('declares the runtime and the package location in functionAppConfig, the Flex way', () => {
    const site = resourceBlocks(code).find(
      (resource) => resource.type === 'Microsoft.Web/sites' && resource.body,
    );
    expect(site?.body).toMatch(
      /functionAppConfig:\s*\{\s*deployment:\s*\{\s*storage:\s*\{\s*type:\s*'blobContainer'/,
    );
    expect(site?.body).toMatch(/runtime:\s*\{\s*name:\s*'node'/);
  });
});

/**
 * The Functions host on every Linux Consumption SKU, Flex included, puts its own CORS middleware in front of the app
 * (Azure/azure-functions-host, src/WebJobs.Script.WebHost/WebScriptHostBuilderExtension.cs: IsAnyLinuxConsumption()
 * → JobHostCorsMiddleware). It reads CORS_ALLOWED_ORIGINS as a JSON array (Configuration/HostCorsOptionsSetup.cs),
 * which the platform fills from siteConfig.cors.allowedOrigins, and ends every preflight itself.
 */
describe("Flex Consumption: CORS is the platform's, from a deployment parameter", () => {
  let main: string;
  let api: string;
  let parameters: { parameters: Record<string, { value: unknown }> };

  beforeAll(async () => {
    main = withoutComments(await readFile(path.join(INFRA_DIR, 'main.bicep'), 'utf8'));
    api = withoutComments(await readFile(path.join(INFRA_DIR, 'app/api.bicep'), 'utf8'));
    parameters = JSON.parse(await readFile(path.join(INFRA_DIR, 'main.parameters.json'), 'utf8'));
  });

  it('takes the origins as a parameter (azd env CORS_ALLOWED_ORIGINS, a comma list) and passes them on as an array', () => {
    expect(main).toMatch(/^param corsAllowedOrigins string = ''$/m);
    expect(parameters.parameters.corsAllowedOrigins?.value).toMatch(/^\$\{CORS_ALLOWED_ORIGINS=\}$/);
    expect(main).toMatch(
      /corsAllowedOrigins:\s*filter\(map\(split\(corsAllowedOrigins, ','\), origin => trim\(origin\)\), origin => !empty\(origin\)\)/,
    );
  });

  it('puts them in siteConfig.cors.allowedOrigins, without credentials', () => {
    expect(api).toMatch(/^param corsAllowedOrigins array = \[\]$/m);
    expect(api).toMatch(
      /siteConfig:\s*\{[^}]*cors:\s*\{\s*allowedOrigins:\s*corsAllowedOrigins\s*supportCredentials:\s*false\s*\}/,
    );
  });

  it("never sets CORS_ALLOWED_ORIGINS (the platform's variable) or the app's own list as an app setting", async () => {
    const settings = [
      ...objectVariableKeys(main, 'serviceSettings'),
      ...objectVariableKeys(api, 'platformSettings'),
    ];
    expect(settings).not.toContain('CORS_ALLOWED_ORIGINS');
    expect(settings).not.toContain('CORS_SUPPORT_CREDENTIALS');
    // The app's own CORS would only answer origins the platform already answers, or be refused at the preflight.
    expect(settings).not.toContain('APP_CORS_ALLOWED_ORIGINS');
  });
});
