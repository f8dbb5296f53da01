import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  propertyValue,
  type ResourceBlock,
  readBicepFiles,
  resourceBlocks,
  withoutComments,
} from './bicep-text.js';

/** API versions of Microsoft.Communication/communicationServices whose schema has `disableLocalAuth`. */
const ACS_VERSIONS_WITH_DISABLE_LOCAL_AUTH = ['2025-05-01', '2025-09-01', '2026-03-18'];

const ROLE = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c3a72f9d',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};

describe('infra: no secrets, identity everywhere, sensible transport settings', () => {
  let bicepFiles: Map<string, string>;
  let code: string;
  let resources: ResourceBlock[];
  let infraJson: string;

  const only = (type: string) => {
    const found = resources.filter((resource) => resource.type === type && resource.body !== '');
    expect(found, `${type} declared once`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    bicepFiles = await readBicepFiles();
    code = [...bicepFiles.values()].map(withoutComments).join('\n');
    resources = [...bicepFiles.values()].flatMap(resourceBlocks);
    infraJson = await readFile(path.resolve('infra/main.parameters.json'), 'utf8');
  });

  it('never reads or builds a key, SAS or connection string', () => {
    for (const text of [code, infraJson]) {
      expect(text).not.toMatch(/\blist(Keys|ConnectionStrings|AccountSas|ServiceSas)\b/i);
      expect(text).not.toMatch(/AccountKey=|accesskey=|SharedAccessSignature|SharedAccessKey/i);
      expect(text).not.toMatch(/@secure\(\)/);
    }
    // The only connection string is Application Insights': an endpoint and a component id, useless without Entra
    // ID because the component refuses local authentication (next test).
    const connectionStrings = [...code.matchAll(/\w*connection_?string\w*/gi)].map((match) => match[0]);
    expect(new Set(connectionStrings)).toEqual(
      new Set(['APPLICATIONINSIGHTS_CONNECTION_STRING', 'ConnectionString']),
    );
    expect(code).toMatch(
      /APPLICATIONINSIGHTS_CONNECTION_STRING:\s*applicationInsights\.properties\.ConnectionString/,
    );
  });

  it('turns local (key) authentication off on storage, ACS and Application Insights', () => {
    const storage = only('Microsoft.Storage/storageAccounts');
    expect(propertyValue(storage.body, 'allowSharedKeyAccess')).toBe('false');
    expect(code).not.toMatch(/allowSharedKeyAccess:\s*true/);

    const acs = only('Microsoft.Communication/communicationServices');
    expect(ACS_VERSIONS_WITH_DISABLE_LOCAL_AUTH).toContain(acs.apiVersion);
    expect(propertyValue(acs.body, 'disableLocalAuth')).toBe('true');
    expect(propertyValue(acs.body, 'dataLocation')).toBe('dataLocation');

    const insights = only('Microsoft.Insights/components');
    expect(propertyValue(insights.body, 'DisableLocalAuth')).toBe('true');
  });

  it('serves HTTPS only, with TLS 1.2+, HTTP/2, and no FTP or SCM publishing passwords', () => {
    const site = only('Microsoft.Web/sites');
    expect(propertyValue(site.body, 'httpsOnly')).toBe('true');
    expect(propertyValue(site.body, 'minTlsVersion')).toBe('1.2');
    expect(propertyValue(site.body, 'http20Enabled')).toBe('true');
    // FTP is closed by the publishing-credentials policies below; ftpsState is deprecated on Flex Consumption
    // (test/infra/flex-consumption.test.ts).

    const policies = resources.filter(
      (resource) => resource.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
    );
    expect(policies.map((policy) => propertyValue(policy.body, 'name')).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(propertyValue(policy.body, 'allow')).toBe('false');

    const storage = only('Microsoft.Storage/storageAccounts');
    expect(propertyValue(storage.body, 'supportsHttpsTrafficOnly')).toBe('true');
    expect(propertyValue(storage.body, 'minimumTlsVersion')).toBe('TLS1_2');
    expect(propertyValue(storage.body, 'allowBlobPublicAccess')).toBe('false');
  });

  it('runs on Flex Consumption (FC1), Node.js 22, as a user-assigned identity, deploying with that identity', () => {
    const plan = only('Microsoft.Web/serverfarms');
    expect(plan.body).toMatch(/sku:\s*\{\s*name:\s*'FC1'\s*tier:\s*'FlexConsumption'\s*\}/);

    const site = only('Microsoft.Web/sites');
    expect(propertyValue(site.body, 'kind')).toBe('functionapp,linux');
    expect(site.body).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*'22'\s*\}/);
    expect(site.body).toMatch(/identity:\s*\{\s*type:\s*'UserAssigned'/);
    expect(site.body).toMatch(/authentication:\s*\{\s*type:\s*'UserAssignedIdentity'/);
    // Flex Consumption takes runtime and package location from functionAppConfig; the legacy settings must not be set.
    expect(code).not.toMatch(
      /FUNCTIONS_WORKER_RUNTIME|WEBSITE_RUN_FROM_PACKAGE|WEBSITE_NODE_DEFAULT_VERSION|linuxFxVersion/,
    );
  });

  it('grants each role on one resource only, and Contributor only on the ACS resource', () => {
    const assignments = resources.filter(
      (resource) => resource.type === 'Microsoft.Authorization/roleAssignments',
    );
    const scopeTypes = new Map(
      resources
        .map((resource) => [resource.symbol, resource.type] as const)
        .filter(([, type]) => type !== ''),
    );
    const granted = assignments.map((assignment) => {
      const roleKey = /roleDefinitionIds\.(\w+)/.exec(assignment.body)?.[1];
      const scope = propertyValue(assignment.body, 'scope');
      return { roleKey, scope, scopeType: scope ? scopeTypes.get(scope) : undefined };
    });
    expect(granted).toEqual(
      expect.arrayContaining([
        {
          roleKey: 'contributor',
          scope: 'communicationServices',
          scopeType: 'Microsoft.Communication/communicationServices',
        },
        {
          roleKey: 'storageTableDataContributor',
          scope: 'storage',
          scopeType: 'Microsoft.Storage/storageAccounts',
        },
        { roleKey: 'storageBlobDataOwner', scope: 'storage', scopeType: 'Microsoft.Storage/storageAccounts' },
        {
          roleKey: 'monitoringMetricsPublisher',
          scope: 'applicationInsights',
          scopeType: 'Microsoft.Insights/components',
        },
        // Token sealing (infra/app/keyvault.bicep): read and sign on the one key, not the vault.
        {
          roleKey: 'keyVaultCryptoUser',
          scope: 'sealingKey',
          scopeType: 'Microsoft.KeyVault/vaults/keys',
        },
      ]),
    );
    expect(granted).toHaveLength(5);
    expect(withoutComments(bicepFiles.get('app/keyvault.bicep')!)).toContain(
      "keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'",
    );

    const rbac = bicepFiles.get('app/rbac.bicep')!;
    for (const [key, id] of Object.entries(ROLE)) {
      if (key === 'owner' || key === 'userAccessAdministrator') expect(code).not.toContain(id);
      else expect(withoutComments(rbac)).toContain(`${key}: '${id}'`);
    }
  });

  it('keeps the identity table and the deployment container in the shared-key-free account', () => {
    const tables = resources.filter(
      (resource) => resource.type === 'tables' || resource.type.endsWith('/tables'),
    );
    const containers = resources.filter(
      (resource) => resource.type === 'containers' || resource.type.endsWith('/containers'),
    );
    expect(tables).toHaveLength(1);
    expect(containers).toHaveLength(1);
    expect(propertyValue(containers[0]!.body, 'publicAccess')).toBe('None');
  });
});
