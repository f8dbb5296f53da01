/**
 * local.settings.sample.json (copied to local.settings.json for `func start`) names only settings something reads:
 * the service's own (the zod schema, src/settings.ts) or Core Tools' worker runtime. Core Tools needs
 * FUNCTIONS_WORKER_RUNTIME from the environment or local.settings.json (Azure/azure-functions-core-tools
 * GlobalCoreToolsSettings.cs, test/infra/core-tools-publish.test.ts). Settings only the platform sets are left out:
 * WEBSITE_AUTH_ENABLED (App Service Authentication) and CORS_ALLOWED_ORIGINS (siteConfig.cors).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/settings.js';

const READ_BY_CORE_TOOLS = ['FUNCTIONS_WORKER_RUNTIME'];
const SET_BY_THE_PLATFORM_ONLY = ['WEBSITE_AUTH_ENABLED', 'CORS_ALLOWED_ORIGINS'];

/** Names in the sample that nothing reads locally. */
function deadSettings(names: readonly string[]): string[] {
  const live = Object.keys(settingsSchema.shape).filter((name) => !SET_BY_THE_PLATFORM_ONLY.includes(name));
  return names.filter((name) => !live.includes(name) && !READ_BY_CORE_TOOLS.includes(name));
}

describe('local.settings.sample.json', () => {
  let names: string[];

  beforeAll(async () => {
    const sample = JSON.parse(await readFile(path.resolve('local.settings.sample.json'), 'utf8'));
    names = Object.keys(sample.Values);
  });

  it('names only live settings', () => {
    expect(names).toContain('FUNCTIONS_WORKER_RUNTIME');
    expect(names).toContain('AUTH_ISSUER');
    expect(deadSettings(names)).toEqual([]);
  });

  it('would catch a removed setting and a platform-only one', () => {
    expect(deadSettings(['IDENTITY_CACHE_TTL_SECONDS', 'WEBSITE_AUTH_ENABLED', 'AUTH_MODE'])).toEqual([
      'IDENTITY_CACHE_TTL_SECONDS',
      'WEBSITE_AUTH_ENABLED',
    ]);
  });
});
