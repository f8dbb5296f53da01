import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { telemetryTarget } from '../../../src/tracing/config.js';
import { withoutUserIds } from '../../../src/tracing/redact-urls.js';

const CONNECTION_STRING =
  'InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/';

describe('telemetryTarget', () => {
  it('is off when nothing is configured, and when OTEL_SDK_DISABLED says so', () => {
    expect(telemetryTarget({})).toEqual({ kind: 'off' });
    expect(telemetryTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toEqual({ kind: 'off' });
    expect(
      telemetryTarget({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }),
    ).toEqual({ kind: 'off' });
  });

  it('exports OTLP to an endpoint, prints spans with the console exporter, and honours `none`', () => {
    expect(telemetryTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toEqual({
      kind: 'otlp',
    });
    expect(telemetryTarget({ OTEL_TRACES_EXPORTER: 'console' })).toEqual({ kind: 'console' });
    expect(
      telemetryTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toEqual({ kind: 'off' });
  });

  it('stays off on an invalid setting (the settings check reports it), such as plain http off loopback', () => {
    expect(telemetryTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.example:4318' })).toEqual({
      kind: 'off',
    });
  });

  it('uses Azure Monitor with the managed identity named in APPLICATIONINSIGHTS_AUTHENTICATION_STRING', () => {
    expect(
      telemetryTarget({
        APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
          'ClientId=11111111-2222-4333-8444-555555555555;Authorization=AAD',
      }),
    ).toEqual({
      kind: 'azure-monitor',
      connectionString: CONNECTION_STRING,
      managedIdentityClientId: '11111111-2222-4333-8444-555555555555',
    });
    // Without `Authorization=AAD` there is no identity to authenticate with.
    expect(
      telemetryTarget({
        APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION_STRING,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=11111111-2222-4333-8444-555555555555',
      }),
    ).toEqual({ kind: 'azure-monitor', connectionString: CONNECTION_STRING });
  });
});

describe('withoutUserIds', () => {
  it('hides Table row keys and ACS identities in a URL, and leaves the rest', () => {
    expect(
      withoutUserIds(
        "https://a.table.core.windows.net/AcsIdentities(PartitionKey='bX',RowKey='bY')?$select=x",
      ),
    ).toBe("https://a.table.core.windows.net/AcsIdentities(PartitionKey='{key}',RowKey='{key}')?$select=x");
    expect(
      withoutUserIds(
        'https://acs.communication.azure.com/identities/8%3Aacs%3Aabc_def/:issueAccessToken?api-version=1',
      ),
    ).toBe('https://acs.communication.azure.com/identities/{id}/:issueAccessToken?api-version=1');
    expect(withoutUserIds('https://issuer.example/keys')).toBe('https://issuer.example/keys');
  });
});

describe('host.json', () => {
  // The Functions host exports its own telemetry with OpenTelemetry only in this mode, and with the identity of
  // APPLICATIONINSIGHTS_AUTHENTICATION_STRING (Azure/azure-functions-host
  // src/WebJobs.Script/Diagnostics/OpenTelemetry/OpenTelemetryConfigurationExtensions.cs, GetTokenCredential). It
  // then drops the worker's forwarded logs once the worker says it sends them itself (`WorkerOpenTelemetryEnabled`,
  // set by @azure/functions-opentelemetry-instrumentation: Azure/azure-functions-nodejs-opentelemetry
  // src/instrumentationESM.ts), which src/tracing/azure-monitor.ts registers. Learn (azure-functions/
  // opentelemetry-howto) documents the mode for Flex Consumption, where this app runs.
  it('puts the Functions host in OpenTelemetry mode', async () => {
    const host = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../../host.json'), 'utf8'));
    expect(host.telemetryMode).toBe('OpenTelemetry');
  });
});
