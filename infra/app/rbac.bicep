// Role assignments of the app's user-assigned identity, each scoped to the one resource that needs it (never the
// resource group or the subscription). docs/deploy.md explains why each role is the least that works.
param principalId string
param storageAccountName string
param communicationServicesName string
param applicationInsightsName string

var roleDefinitionIds = {
  // ACS documents Contributor on the Communication Services resource for Entra ID calls to the Identity API.
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c'
  // Identity table: read/write entities, and create the table if it is missing (ensureTable at start-up).
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Functions host storage (AzureWebJobsStorage) and the Flex Consumption deployment container.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Application Insights ingestion with Entra ID (local auth is disabled on the component).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource communicationServices 'Microsoft.Communication/communicationServices@2025-05-01' existing = {
  name: communicationServicesName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource acsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationServices.id, principalId, roleDefinitionIds.contributor)
  scope: communicationServices
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionIds.contributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Token service: ACS Identity API (create identities, issue and revoke tokens) with Entra ID'
  }
}

resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleDefinitionIds.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionIds.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Token service: identity table (user to ACS identity mapping)'
  }
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roleDefinitionIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionIds.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Functions host storage and the Flex Consumption deployment package'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roleDefinitionIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionIds.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Telemetry to Application Insights with Entra ID'
  }
}
