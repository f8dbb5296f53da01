// The Azure Communication Services resource whose Identity API the service calls. Access keys are disabled: the
// service reaches it only with its managed identity (COMMUNICATION_SERVICES_ENDPOINT + AZURE_CLIENT_ID).
param name string
param tags object = {}

@description('Where ACS stores its data at rest, e.g. "United States" or "Europe". Cannot be changed later.')
param dataLocation string

resource communicationServices 'Microsoft.Communication/communicationServices@2025-05-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    disableLocalAuth: true
  }
}

output name string = communicationServices.name
output id string = communicationServices.id
output endpoint string = 'https://${communicationServices.properties.hostName}/'
