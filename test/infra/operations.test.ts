/**
 * What an operator of the Flex Consumption app gets from `azd up`: scale knobs from the azd environment, cold starts
 * without source maps unless asked, alert rules on the service's own log lines, resource logs for Key Vault and
 * Storage (and platform CORS, which has no max-age: test/infra/bicep-compiler.test.ts). Property names are checked
 * by the real Bicep compiler (test/infra/bicep-compiler.test.ts fails on any unknown property, BCP037, against its built-in types of
 * Microsoft.Web/sites@2024-04-01, the same as Azure/bicep-types-az generated/web/microsoft.web/2024-04-01).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { INFRA_DIR, objectVariableKeys, withoutComments } from './bicep-text.js';

let main: string;
let api: string;
let alerts: string;
let diagnostics: string;
let parameters: Record<string, { value: string }>;

const bicep = async (file: string) => withoutComments(await readFile(path.join(INFRA_DIR, file), 'utf8'));

beforeAll(async () => {
  main = await bicep('main.bicep');
  api = await bicep('app/api.bicep');
  alerts = await bicep('app/alerts.bicep');
  diagnostics = await bicep('app/diagnostics.bicep');
  parameters = JSON.parse(await readFile(path.join(INFRA_DIR, 'main.parameters.json'), 'utf8')).parameters;
});

/** main.parameters.json's `${NAME=default}`: azd fills it from the environment. */
const azdVariable = (inner: string) => `\${${inner}}`;

describe('Flex Consumption scale knobs come from the azd environment', () => {
  it.each([
    ['alwaysReadyHttpInstances', 'ALWAYS_READY_HTTP_INSTANCES', '0'],
    ['maximumInstanceCount', 'MAXIMUM_INSTANCE_COUNT', '100'],
    ['instanceMemoryMB', 'INSTANCE_MEMORY_MB', '2048'],
    ['httpPerInstanceConcurrency', 'HTTP_PER_INSTANCE_CONCURRENCY', '0'],
  ])('%s ← the azd variable %s (default %s)', (param, variable, fallback) => {
    expect(parameters[param]?.value).toBe(`\${${variable}=${fallback}}`);
    expect(main).toMatch(new RegExp(`^param ${param} string = '${fallback}'$`, 'm'));
  });

  it('puts them in functionAppConfig.scaleAndConcurrency: alwaysReady for the http group, the cap, memory, per-instance HTTP concurrency', () => {
    expect(api).toMatch(
      /alwaysReady: scale\.alwaysReadyHttpInstances > 0\s*\?\s*\[\s*\{\s*name: 'http'\s*instanceCount: scale\.alwaysReadyHttpInstances/,
    );
    expect(api).toMatch(/maximumInstanceCount: scale\.maximumInstanceCount/);
    expect(api).toMatch(/instanceMemoryMB: scale\.instanceMemoryMB/);
    expect(api).toMatch(
      /triggers: scale\.httpPerInstanceConcurrency > 0\s*\?\s*\{\s*http: \{\s*perInstanceConcurrency: scale\.httpPerInstanceConcurrency/,
    );
  });
});

describe('cold start', () => {
  it('does not parse the source map unless ENABLE_SOURCE_MAPS=true', () => {
    expect(objectVariableKeys(api, 'platformSettings')).not.toContain('NODE_OPTIONS');
    expect(api).toMatch(
      /var sourceMapSettings = enableSourceMaps \? \{ NODE_OPTIONS: '--enable-source-maps' \} : \{\}/,
    );
    expect(api).toMatch(/^param enableSourceMaps bool = false$/m);
    expect(parameters.enableSourceMaps?.value).toBe(azdVariable('ENABLE_SOURCE_MAPS=false'));
  });
});

describe("alert rules on the service's log lines (docs/observability.md)", () => {
  it.each([
    ['server-errors', /toint\(e\.status\) >= 500/],
    ['acs-errors', /e\.acsErrors/],
    ['store-unavailable', /e\.outcome\) == \\'store_unavailable\\'/],
    ['token-sealing-off', /\{"event":"token_sealing_off"/],
    ['invalid-settings', /\{"event":"invalid_settings"/],
  ])('%s', (name, query) => {
    const start = alerts.indexOf(`name: '${name}'`);
    expect(start, name).toBeGreaterThan(-1);
    const next = alerts.indexOf("name: '", start + 1);
    expect(alerts.slice(start, next === -1 ? undefined : next)).toMatch(query);
  });

  it('queries only events and outcomes the service logs', async () => {
    const sources = await Promise.all(
      [
        'src/services.ts',
        'src/tokens/sealing/create-token-sealer.ts',
        'src/http/error-answers.ts',
        'src/telemetry.ts',
      ].map((file) => readFile(path.resolve(file), 'utf8')),
    );
    const code = sources.join('\n');
    for (const marker of [
      "event: 'invalid_settings'",
      "event: 'token_sealing_off'",
      "outcome: 'store_unavailable'",
      'acsErrors:',
      "REQUEST_EVENT = 'request'",
    ]) {
      expect(code, marker).toContain(marker);
    }
  });

  it('scopes every rule to Application Insights and notifies the action group when ALERT_EMAIL is set', () => {
    expect(alerts).toMatch(/scopes: \[\s*applicationInsights\.id\s*\]/);
    expect(alerts).toMatch(/actionGroups: empty\(alertEmail\) \? \[\] : \[actionGroup\.id\]/);
    expect(parameters.alertEmail?.value).toBe(azdVariable('ALERT_EMAIL='));
  });
});

describe('resource logs', () => {
  it('sends the audit logs of Key Vault, the table service and the blob service to Log Analytics', () => {
    for (const scope of ['vault', 'storage::tableServices', 'storage::blobServices']) {
      expect(diagnostics).toMatch(
        new RegExp(
          `scope: ${scope.replace('::', '::')}\\s*properties: \\{\\s*workspaceId: logAnalytics\\.id\\s*logs: \\[\\s*\\{\\s*categoryGroup: 'audit'`,
        ),
      );
    }
  });
});
