// `azd up` entry point: one resource group holding the token service (Flex Consumption Function App), its
// user-assigned managed identity, Azure Communication Services, the storage account (host, deployment package,
// identity table) and Application Insights. docs/deploy.md walks through the parameters.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name the resource group and to derive unique resource names.')
param environmentName string

@minLength(1)
@description('Region of the resource group and of every regional resource (must offer Flex Consumption).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional name of the resource group (default: rg-<environmentName>).')
param resourceGroupName string = ''

@description('Where Azure Communication Services stores data at rest, e.g. "United States" or "Europe". Fixed at creation.')
param communicationServicesDataLocation string = 'United States'

@description('How callers are verified: jwt (bearer tokens from AUTH_ISSUER) or easyauth (App Service Authentication in front).')
@allowed([
  'jwt'
  'easyauth'
])
param authMode string = 'jwt'

@minLength(1)
@description('AUTH_ISSUER: the identity provider that signs callers\' tokens (https URL), e.g. https://login.microsoftonline.com/<tenant-id>/v2.0')
param authIssuer string

@minLength(1)
@description('AUTH_AUDIENCE: the audience (aud) the callers\' tokens must carry; a comma list is allowed.')
param authAudience string

@description('AUTH_REQUIRED_SCOPE: a scope (scp) or app role (roles) every caller must hold. Empty: none required.')
param authRequiredScope string = ''

@description('AUTH_ADMIN_ROLE: the app role that may revoke or delete other users. Empty: admin routes are off.')
param authAdminRole string = ''

@description('TOKEN_ALLOWED_SCOPES: ACS token scopes callers may ask for (comma list). Empty: the service default (chat,voip).')
param tokenAllowedScopes string = ''

@description('TOKEN_DEFAULT_SCOPES: scopes issued when a caller names none (comma list). Empty: the service default (chat,voip).')
param tokenDefaultScopes string = ''

@description('TOKEN_DEFAULT_EXPIRES_IN_MINUTES: token lifetime when a caller names none, 60 to 1440. Empty: the service default (60).')
param tokenDefaultExpiresInMinutes string = ''

@description('Exact browser origins allowed to call the service (comma list), e.g. https://app.contoso.com. They go to the platform\'s CORS (siteConfig.cors), which answers them in front of the app. Empty: no cross-origin access.')
param corsAllowedOrigins string = ''

@description('RATE_LIMIT_PER_MINUTE: requests per minute per user (and per client address before authentication). Empty: the service default.')
param rateLimitPerMinute string = ''

@description('Upper bound of Flex Consumption instances.')
param maximumInstanceCount int = 100

var abbreviations = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbreviations.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var identityTableName = 'AcsIdentities'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbreviations.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module apiIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'apiIdentity'
  scope: rg
  params: {
    name: '${abbreviations.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbreviations.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    identityTableName: identityTableName
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbreviations.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbreviations.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module communication 'app/communication.bicep' = {
  name: 'communication'
  scope: rg
  params: {
    name: '${abbreviations.communicationServices}${resourceToken}'
    tags: tags
    dataLocation: communicationServicesDataLocation
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    principalId: apiIdentity.outputs.principalId
  }
}

// The service's own settings (src/settings.ts). An empty value means "use the service's default".
var serviceSettings = {
  COMMUNICATION_SERVICES_ENDPOINT: communication.outputs.endpoint
  AZURE_CLIENT_ID: apiIdentity.outputs.clientId
  IDENTITY_STORE: 'table'
  IDENTITY_STORE_ENDPOINT: storage.outputs.tableEndpoint
  IDENTITY_TABLE_NAME: storage.outputs.identityTableName
  AUTH_MODE: authMode
  AUTH_ISSUER: authIssuer
  AUTH_AUDIENCE: authAudience
  AUTH_REQUIRED_SCOPE: authRequiredScope
  AUTH_ADMIN_ROLE: authAdminRole
  TOKEN_ALLOWED_SCOPES: tokenAllowedScopes
  TOKEN_DEFAULT_SCOPES: tokenDefaultScopes
  TOKEN_DEFAULT_EXPIRES_IN_MINUTES: tokenDefaultExpiresInMinutes
  RATE_LIMIT_PER_MINUTE: rateLimitPerMinute
  TOKEN_SEALING_KEY_URL: keyVault.outputs.keyUri
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbreviations.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: apiIdentity.outputs.id
    identityClientId: apiIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceSettings: serviceSettings
    corsAllowedOrigins: filter(map(split(corsAllowedOrigins, ','), origin => trim(origin)), origin => !empty(origin))
    maximumInstanceCount: maximumInstanceCount
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: apiIdentity.outputs.principalId
    storageAccountName: storage.outputs.name
    communicationServicesName: communication.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output COMMUNICATION_SERVICES_ENDPOINT string = communication.outputs.endpoint
output IDENTITY_STORE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_CLIENT_ID string = apiIdentity.outputs.clientId
