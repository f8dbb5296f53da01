// The Key Vault key that wraps the data keys sealing shared reusable tokens (docs/token-sealing.md). RBAC
// authorization only (no access policies), soft delete on, purge protection a choice (off by default). The key is RSA and created inside
// the vault by this deployment, so its private half never leaves the vault; the app's identity may read it and
// sign with it (the data key derives from a signature), on this one key, and nothing else.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Principal id of the app\'s user-assigned identity.')
param principalId string

@description('Purge protection: irreversible once on. Off, `azd down --purge` purges the vault and the next `azd up` can reuse its name.')
param purgeProtection bool = false

@description('Name of the RSA key; TOKEN_SEALING_KEY_URL names it without a version, so rotations are followed.')
param keyName string = 'token-sealing'

var roleDefinitionIds = {
  // The app derives its data key from a signature (docs/token-sealing.md), so it needs keys/read and
  // keys/sign/action. Key Vault Crypto User is the narrowest built-in role with sign
  // (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security); it also holds update,
  // backup, encrypt, decrypt, wrap, unwrap and verify, and the assignment is scoped to this one key. Key Vault
  // Crypto Service Encryption User (read, wrap, unwrap) has no sign.
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Off by default: azd purges a soft-deleted vault on `azd down --purge` only when purge protection is off
    // (Azure/azure-dev cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go), and a vault it cannot purge keeps its
    // name for 90 days, so `azd up` with the same environment name would fail. What a lost key costs is small: the
    // sealed values are reusable tokens of at most 24 hours, and users get fresh ones. Soft delete still lets an
    // accidental deletion be recovered. The property accepts only true ("does not accept false as its value"):
    // null leaves it out, and a vault created with it on keeps it.
    enablePurgeProtection: purgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource sealingKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: keyName
  tags: tags
  properties: {
    kty: 'RSA'
    keySize: 3072
    keyOps: [
      'sign'
    ]
    attributes: {
      enabled: true
      exportable: false
    }
    // A new version every 90 days. The app seals with the newest version within an hour; older versions stay
    // enabled, so tokens they sealed keep opening until they expire (at most 24 hours).
    rotationPolicy: {
      attributes: {
        expiryTime: 'P2Y'
      }
      lifetimeActions: [
        {
          trigger: {
            timeAfterCreate: 'P90D'
          }
          action: {
            type: 'rotate'
          }
        }
        {
          trigger: {
            timeBeforeExpiry: 'P30D'
          }
          action: {
            type: 'notify'
          }
        }
      ]
    }
  }
}

resource sealingKeyUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(sealingKey.id, principalId, roleDefinitionIds.keyVaultCryptoUser)
  scope: sealingKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionIds.keyVaultCryptoUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Token service: sign with the key to derive the data key that seals shared reusable tokens'
  }
}

output name string = vault.name
@description('The versionless key identifier: the app follows the newest version.')
output keyUri string = sealingKey.properties.keyUri
