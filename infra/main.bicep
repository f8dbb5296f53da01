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

@description('AUTH_ISSUER: the identity provider that signs callers\' tokens (https URL), e.g. https://login.microsoftonline.com/<tenant-id>/v2.0. Filled by the preprovision hook; empty with AUTH_ISSUERS.')
param authIssuer string = ''

@description('AUTH_AUDIENCE: the audience (aud) the callers\' tokens must carry; a comma list is allowed. Empty with AUTH_ISSUERS.')
param authAudience string = ''

@description('AUTH_ISSUERS: a JSON list of trusted issuers (docs/identity-providers.md), instead of AUTH_ISSUER and AUTH_AUDIENCE. Empty: the single issuer.')
param authIssuers string = ''

@description('AUTH_ADMIN_REACH: all-issuers or own-issuer (admins act only on users of their own issuer). Empty: the service default (all-issuers).')
param authAdminReach string = ''

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

@description('AUTH_JWKS_URI: where the issuer publishes its signing keys, if not in its OpenID discovery document. Empty: discovery.')
param authJwksUri string = ''

@description('AUTH_USER_CLAIM: the claim that identifies a user. Empty: the service default (oid). Changing it re-keys every user.')
param authUserClaim string = ''

@description('TEAMS_CLIENT_ID: client id of the Entra app Teams users sign in to. Empty: the Teams route is off.')
param teamsClientId string = ''

@description('TOKEN_SCOPES_BY_ROLE: JSON object from app role to the ACS scopes it may get. Empty: every caller may get every allowed scope.')
param tokenScopesByRole string = ''

@description('TOKEN_REUSE: false gives every request a freshly issued token. Empty: the service default (true).')
param tokenReuse string = ''

@description('TOKEN_REUSE_MAX_ENTRIES: tokens kept per instance when they cannot be shared. Empty: the service default.')
param tokenReuseMaxEntries string = ''

@description('REQUEST_TIMEOUT_MS: time budget of the ACS calls of one request. Empty: the service default.')
param requestTimeoutMs string = ''

// Flex Consumption scale (Microsoft.Web/sites@2024-04-01 functionAppConfig.scaleAndConcurrency). Strings, because
// azd hands every value of main.parameters.json over as text; int() turns them into numbers below.
@description('Instances kept warm for the HTTP functions (always ready; billed while idle). 0: none.')
param alwaysReadyHttpInstances string = '0'

@description('Upper bound of Flex Consumption instances (40 to 1000).')
param maximumInstanceCount string = '100'

@description('Memory of each instance in MB.')
@allowed([
  '512'
  '2048'
  '4096'
])
param instanceMemoryMB string = '2048'

@description('Concurrent HTTP requests per instance before the platform scales out. 0: the platform default for the memory size.')
param httpPerInstanceConcurrency string = '0'

@description('true: NODE_OPTIONS=--enable-source-maps, so stack traces name src/*.ts; it costs every cold start the parse of the source map.')
param enableSourceMaps string = 'false'

@description('true: Key Vault purge protection (irreversible; then `azd down --purge` cannot free the vault name for 90 days).')
param keyVaultPurgeProtection string = 'false'

@description('Email address for the alert rules\' notifications. Empty: the alerts fire in the portal only.')
param alertEmail string = ''

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
    purgeProtection: bool(keyVaultPurgeProtection)
  }
}

// The service's own settings (src/settings.ts). The first six come from the resources above; every other one is a
// parameter mapped from the azd environment variable of the same name (main.parameters.json), so `azd env set NAME
// value` then `azd provision` keeps it. The appsettings resource replaces the whole list on every deployment: a
// setting changed only in the portal is gone after the next one (test/infra/settings-parameters.test.ts).
// An empty value means "use the service's default".
var serviceSettings = {
  COMMUNICATION_SERVICES_ENDPOINT: communication.outputs.endpoint
  AZURE_CLIENT_ID: apiIdentity.outputs.clientId
  IDENTITY_STORE: 'table'
  IDENTITY_STORE_ENDPOINT: storage.outputs.tableEndpoint
  IDENTITY_TABLE_NAME: storage.outputs.identityTableName
  TOKEN_SEALING_KEY_URL: keyVault.outputs.keyUri
  AUTH_MODE: authMode
  AUTH_ISSUER: authIssuer
  AUTH_AUDIENCE: authAudience
  AUTH_ISSUERS: authIssuers
  AUTH_ADMIN_REACH: authAdminReach
  AUTH_JWKS_URI: authJwksUri
  AUTH_USER_CLAIM: authUserClaim
  AUTH_REQUIRED_SCOPE: authRequiredScope
  AUTH_ADMIN_ROLE: authAdminRole
  TEAMS_CLIENT_ID: teamsClientId
  TOKEN_ALLOWED_SCOPES: tokenAllowedScopes
  TOKEN_DEFAULT_SCOPES: tokenDefaultScopes
  TOKEN_DEFAULT_EXPIRES_IN_MINUTES: tokenDefaultExpiresInMinutes
  TOKEN_SCOPES_BY_ROLE: tokenScopesByRole
  TOKEN_REUSE: tokenReuse
  TOKEN_REUSE_MAX_ENTRIES: tokenReuseMaxEntries
  REQUEST_TIMEOUT_MS: requestTimeoutMs
  RATE_LIMIT_PER_MINUTE: rateLimitPerMinute
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
    scale: {
      alwaysReadyHttpInstances: int(alwaysReadyHttpInstances)
      maximumInstanceCount: int(maximumInstanceCount)
      instanceMemoryMB: instanceMemoryMB == '512' ? 512 : instanceMemoryMB == '4096' ? 4096 : 2048
      httpPerInstanceConcurrency: int(httpPerInstanceConcurrency)
    }
    enableSourceMaps: bool(enableSourceMaps)
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

module diagnostics 'app/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: resourceToken
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    alertEmail: alertEmail
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
// What a client needs besides SERVICE_API_URI; the preprovision hook also keeps ENTRA_API_CLIENT_ID, ENTRA_API_SCOPE
// and ENTRA_TENANT_ID in the azd environment (`azd env get-values`).
output AUTH_ISSUER string = authIssuer
output AUTH_AUDIENCE string = authAudience
output AUTH_REQUIRED_SCOPE string = authRequiredScope
output AUTH_ADMIN_ROLE string = authAdminRole
