// The one identity the Function App uses for everything: host storage, deployment package, identity table, ACS and
// Application Insights. User-assigned, so its role assignments exist before the app first starts.
param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
