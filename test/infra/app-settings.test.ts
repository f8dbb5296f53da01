import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/settings.js';
import { documentedSettings, INFRA_DIR, objectVariableKeys } from './bicep-text.js';

/** Settings the code reads that neither the Bicep sets nor docs/deploy.md hands to the user. */
function unaccountedSettings(
  codeSettings: readonly string[],
  setByBicep: readonly string[],
  documented: readonly string[],
) {
  const accounted = new Set([...setByBicep, ...documented]);
  return codeSettings.filter((setting) => !accounted.has(setting));
}

/**
 * Settings the Bicep already wires for issue 4 (admin role, CORS, rate limit) before src/settings.ts reads them.
 * Remove a name here once the schema has it; any other name set but not read fails the check below.
 */
const SET_AHEAD_OF_THE_CODE: readonly string[] = [];

/**
 * Settings the platform writes into the app's environment from the site's configuration, not app settings:
 * CORS_ALLOWED_ORIGINS comes from siteConfig.cors.allowedOrigins (test/infra/flex-consumption.test.ts).
 */
const FILLED_BY_THE_PLATFORM: readonly string[] = ['CORS_ALLOWED_ORIGINS'];

describe('app settings: what the code reads is what the deployment provides', () => {
  const codeSettings = Object.keys(settingsSchema.shape);
  let serviceSettings: string[];
  let platformSettings: string[];
  let documented: string[];

  beforeAll(async () => {
    serviceSettings = objectVariableKeys(
      await readFile(path.join(INFRA_DIR, 'main.bicep'), 'utf8'),
      'serviceSettings',
    );
    platformSettings = objectVariableKeys(
      await readFile(path.join(INFRA_DIR, 'app/api.bicep'), 'utf8'),
      'platformSettings',
    );
    documented = documentedSettings(await readFile(path.resolve('docs/deploy.md'), 'utf8'));
  });

  it('reads the settings out of the Bicep and the docs table', () => {
    expect(serviceSettings).toEqual(
      expect.arrayContaining([
        'COMMUNICATION_SERVICES_ENDPOINT',
        'AZURE_CLIENT_ID',
        'IDENTITY_STORE_ENDPOINT',
      ]),
    );
    expect(platformSettings).toEqual(
      expect.arrayContaining([
        'AzureWebJobsStorage__accountName',
        'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
      ]),
    );
    expect(documented.length).toBeGreaterThan(0);
  });

  it('sets or documents every setting in src/settings.ts', () => {
    expect(
      unaccountedSettings(
        codeSettings,
        [...serviceSettings, ...platformSettings, ...FILLED_BY_THE_PLATFORM],
        documented,
      ),
    ).toEqual([]);
  });

  it('would catch a setting added to the schema and forgotten in both places', () => {
    const withNewSetting = [...codeSettings, 'SOME_NEW_SETTING'];
    expect(
      unaccountedSettings(
        withNewSetting,
        [...serviceSettings, ...platformSettings, ...FILLED_BY_THE_PLATFORM],
        documented,
      ),
    ).toEqual(['SOME_NEW_SETTING']);
  });

  it('sets only settings the code reads (a misspelt name would be silently ignored)', () => {
    const unread = serviceSettings.filter((setting) => !codeSettings.includes(setting));
    expect(unread.filter((setting) => !SET_AHEAD_OF_THE_CODE.includes(setting))).toEqual([]);
  });

  it('documents only settings the code reads, and none that the Bicep already sets', () => {
    expect(documented.filter((setting) => !codeSettings.includes(setting))).toEqual([]);
    expect(documented.filter((setting) => serviceSettings.includes(setting))).toEqual([]);
  });

  it('connects the host to storage with the managed identity, never a connection string', () => {
    expect(platformSettings).toEqual(
      expect.arrayContaining([
        'AzureWebJobsStorage__accountName',
        'AzureWebJobsStorage__credential',
        'AzureWebJobsStorage__clientId',
      ]),
    );
    const all = [...serviceSettings, ...platformSettings];
    expect(all).not.toContain('AzureWebJobsStorage');
    expect(all).not.toContain('COMMUNICATION_SERVICES_CONNECTION_STRING');
    expect(all).not.toContain('IDENTITY_STORE_CONNECTION_STRING');
  });
});
