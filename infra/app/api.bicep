// The token service: a Flex Consumption (FC1) Function App on Node.js 22, running as a user-assigned managed
// identity. Every connection (host storage, deployment package, identity table, ACS, Application Insights) uses that
// identity; no access key or storage connection string is set.
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

@description('App settings of the service itself (COMMUNICATION_SERVICES_ENDPOINT, AUTH_*, TOKEN_*, ...).')
param serviceSettings object

@description('Exact browser origins the platform\'s CORS allows (siteConfig.cors.allowedOrigins). Empty: none.')
param corsAllowedOrigins array = []

// Flex Consumption scale and concurrency: Microsoft.Web/sites@2024-04-01 functionAppConfig.scaleAndConcurrency
// (Azure/bicep-types-az, generated/web/microsoft.web/2024-04-01/types.json: FunctionsScaleAndConcurrency).
type scaleSettings = {
  @description('Always-ready instances of the `http` group (HTTP triggers); 0: none.')
  @minValue(0)
  alwaysReadyHttpInstances: int

  @minValue(1)
  @maxValue(1000)
  maximumInstanceCount: int

  @description('2048 is the default; 512 and 4096 are the other sizes Flex Consumption offers.')
  instanceMemoryMB: (512 | 2048 | 4096)

  @description('HTTP requests one instance takes at once; 0 leaves the platform default (by memory size).')
  @minValue(0)
  @maxValue(1000)
  httpPerInstanceConcurrency: int
}

param scale scaleSettings = {
  alwaysReadyHttpInstances: 0
  maximumInstanceCount: 100
  instanceMemoryMB: 2048
  httpPerInstanceConcurrency: 0
}

@description('Adds NODE_OPTIONS=--enable-source-maps: stack traces name src/*.ts, but every cold start parses the map.')
param enableSourceMaps bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Settings of the Functions host and the Node.js worker; the service's own settings are merged in below.
var platformSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // The connection string names the ingestion endpoint and the component; it grants nothing by itself, because
  // local authentication is disabled on the component and ingestion needs the identity's Entra ID token.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Off by default: with --enable-source-maps Node parses dist/index.cjs.map (about 6 MB) when the bundle loads,
// about 150 ms of every cold start. Turn it on (ENABLE_SOURCE_MAPS=true) while chasing a stack trace.
var sourceMapSettings = enableSourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}

var appSettings = union(platformSettings, sourceMapSettings, serviceSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      // On Flex Consumption the Functions host answers CORS itself, preflights included, before the app runs; the
      // platform hands it this list as CORS_ALLOWED_ORIGINS (a JSON array). The app then adds no
      // Access-Control-Allow-Origin of its own for these origins (src/http/cors.ts). Tokens travel in the
      // Authorization header, never in cookies, so credentialed CORS stays off.
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: scale.alwaysReadyHttpInstances > 0
          ? [
              {
                name: 'http'
                instanceCount: scale.alwaysReadyHttpInstances
              }
            ]
          : []
        maximumInstanceCount: scale.maximumInstanceCount
        instanceMemoryMB: scale.instanceMemoryMB
        triggers: scale.httpPerInstanceConcurrency > 0
          ? {
              http: {
                perInstanceConcurrency: scale.httpPerInstanceConcurrency
              }
            }
          : null
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
}

// Deployments (azd, Core Tools) authenticate with Entra ID; the legacy FTP/SCM publishing passwords are disabled.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
