import { beforeAll, describe, expect, it } from 'vitest';
import {
  propertyValue,
  type ResourceBlock,
  readBicepFiles,
  resourceBlocks,
  withoutComments,
} from './bicep-text.js';

/**
 * The vault and key behind token sealing (infra/app/keyvault.bicep, docs/token-sealing.md). Property names are
 * those of Microsoft.KeyVault/vaults@2023-07-01 and vaults/keys@2023-07-01
 * (https://learn.microsoft.com/azure/templates/microsoft.keyvault/2023-07-01/vaults/keys).
 */
describe('infra: the token sealing key', () => {
  let bicep: string;
  let resources: ResourceBlock[];
  let main: string;

  beforeAll(async () => {
    const files = await readBicepFiles();
    bicep = withoutComments(files.get('app/keyvault.bicep')!);
    resources = resourceBlocks(bicep);
    main = withoutComments(files.get('main.bicep')!);
  });

  const only = (type: string) => {
    const found = resources.filter((resource) => resource.type === type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };

  it('puts the vault under RBAC, with soft delete, and no access policies', () => {
    const vault = only('Microsoft.KeyVault/vaults');
    expect(propertyValue(vault.body, 'enableRbacAuthorization')).toBe('true');
    expect(propertyValue(vault.body, 'enableSoftDelete')).toBe('true');
    expect(propertyValue(vault.body, 'publicNetworkAccess')).toBe('Enabled');
    expect(bicep).not.toMatch(/accessPolicies/);
  });

  /**
   * `azd down --purge` purges a soft-deleted vault only when purge protection is off (Azure/azure-dev
   * cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go: vaults with EnablePurgeProtection are skipped), and a
   * vault that is not purged keeps its name for the retention period; the name is fixed per subscription,
   * environment and region, so the next `azd up` with the same environment name would fail. Purge protection is
   * therefore off unless KEY_VAULT_PURGE_PROTECTION=true. The property "does not accept false as its value"
   * (Microsoft.KeyVault/vaults@2023-07-01, VaultProperties.enablePurgeProtection): off is null, never false.
   */
  it('turns purge protection on only when asked (never false), so azd down --purge frees the vault name', () => {
    const vault = only('Microsoft.KeyVault/vaults');
    expect(propertyValue(vault.body, 'enablePurgeProtection')).toBe('purgeProtection ? true : null');
    expect(bicep).toMatch(/^param purgeProtection bool = false$/m);
    expect(main).toMatch(/purgeProtection:\s*bool\(keyVaultPurgeProtection\)/);
    expect(main).toMatch(/^param keyVaultPurgeProtection string = 'false'$/m);
    expect(main).toMatch(/name: 'kv-\$\{resourceToken\}'/);
  });

  it('creates an RSA key inside the vault for sign only, never exportable, never a secret', () => {
    const key = only('Microsoft.KeyVault/vaults/keys');
    expect(propertyValue(key.body, 'kty')).toBe('RSA');
    expect(Number(propertyValue(key.body, 'keySize'))).toBeGreaterThanOrEqual(2048);
    // The data key derives from an RS256 signature (src/tokens/sealing/key-vault-key-ring.ts): sign is all it needs.
    expect(key.body).toMatch(/keyOps:\s*\[\s*'sign'\s*\]/);
    expect(propertyValue(key.body, 'exportable')).toBe('false');
    expect(bicep).not.toMatch(/Microsoft\.KeyVault\/vaults\/secrets|\bkey_ops\b|\bd:\s|\bk:\s/);
  });

  it('hands the app the versionless key URI as TOKEN_SEALING_KEY_URL', () => {
    expect(bicep).toMatch(/output keyUri string = sealingKey\.properties\.keyUri/);
    expect(main).toMatch(/TOKEN_SEALING_KEY_URL:\s*keyVault\.outputs\.keyUri/);
    const module = main.slice(main.indexOf("module keyVault 'app/keyvault.bicep'"));
    expect(module.slice(0, module.indexOf('\n}\n'))).toMatch(
      /principalId:\s*apiIdentity\.outputs\.principalId/,
    );
  });
});
