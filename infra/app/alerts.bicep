// Alert rules on the service's own log lines (docs/observability.md): each request writes one JSON line to the
// `traces` table of Application Insights, start-up problems write their own event. Every rule looks back 15 minutes,
// every 5 minutes, weights rows by itemCount (the host samples traces) and notifies the action group when one is given.
param namePrefix string
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string

@description('Email address for the notifications. Empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('Share of requests answered 5xx that fires the 5xx alert (0.05: 5 %).')
param serverErrorRate string = '0.05'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'acs-tokens'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var requestLines = 'traces | where message startswith \'{"event":"request"\' | extend e = parse_json(message)'

// name, severity (0 critical .. 4 verbose), what it means, the query, the measured column and the threshold it must exceed.
var rules = [
  {
    name: 'server-errors'
    severity: 1
    description: 'More than the set share of requests answered 5xx.'
    query: '${requestLines} | summarize total = sum(itemCount), failed = sumif(itemCount, toint(e.status) >= 500) | where total > 0 | extend rate = todouble(failed) / todouble(total)'
    measure: 'rate'
    threshold: json(serverErrorRate)
  }
  {
    name: 'acs-errors'
    severity: 2
    description: 'Calls to the ACS Identity API failed (throttled, refused or timed out).'
    query: '${requestLines} | summarize acsErrors = sum(toint(e.acsErrors) * itemCount)'
    measure: 'acsErrors'
    threshold: 0
  }
  {
    name: 'store-unavailable'
    severity: 1
    description: 'The identity table could not be reached: token requests answered 503.'
    query: '${requestLines} | where tostring(e.outcome) == \'store_unavailable\' | summarize failures = sum(itemCount)'
    measure: 'failures'
    threshold: 0
  }
  {
    name: 'token-sealing-off'
    severity: 2
    description: 'An instance could not use the Key Vault sealing key: reusable tokens are kept per instance (docs/token-sealing.md).'
    query: 'traces | where message startswith \'{"event":"token_sealing_off"\' | summarize events = sum(itemCount)'
    measure: 'events'
    threshold: 0
  }
  {
    name: 'invalid-settings'
    severity: 0
    description: 'The service started with invalid settings and answers every route 503 misconfigured.'
    query: 'traces | where message startswith \'{"event":"invalid_settings"\' | summarize events = sum(itemCount)'
    measure: 'events'
    threshold: 0
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in rules: {
    name: 'alert-${rule.name}-${namePrefix}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: 'Token service: ${rule.name}'
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        applicationInsights.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Total'
            metricMeasureColumn: rule.measure
            operator: 'GreaterThan'
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
      }
    }
  }
]
