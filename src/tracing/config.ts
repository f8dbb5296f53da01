import { settingsSchema } from '../settings.js';

/**
 * Where telemetry goes, decided once from the environment. Off unless something is configured, so a service without
 * a collector pays nothing: no SDK loaded, no span made.
 */
export type TelemetryTarget =
  | { readonly kind: 'off' }
  /** On Azure: the Azure Monitor OpenTelemetry distro, authenticated with the managed identity when one is named. */
  | {
      readonly kind: 'azure-monitor';
      readonly connectionString: string;
      readonly managedIdentityClientId?: string;
    }
  /** Anywhere else: OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_ENDPOINT, or spans printed on stdout (`console`). */
  | { readonly kind: 'otlp' | 'console' };

const telemetrySettings = settingsSchema.pick({
  APPLICATIONINSIGHTS_CONNECTION_STRING: true,
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: true,
  OTEL_EXPORTER_OTLP_ENDPOINT: true,
  OTEL_TRACES_EXPORTER: true,
  OTEL_SDK_DISABLED: true,
});

/**
 * Reads the telemetry slice of the settings. Invalid telemetry settings leave telemetry off: the service's own
 * settings check (src/settings.ts) already reports them by name, and a service must not fail for its telemetry.
 */
export function telemetryTarget(env: Record<string, string | undefined>): TelemetryTarget {
  const nonEmpty = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = telemetrySettings.safeParse(nonEmpty);
  if (!parsed.success) return { kind: 'off' };
  const settings = parsed.data;
  if (settings.OTEL_SDK_DISABLED) return { kind: 'off' };
  if (settings.APPLICATIONINSIGHTS_CONNECTION_STRING) {
    const clientId = managedIdentityClientId(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
    return {
      kind: 'azure-monitor',
      connectionString: settings.APPLICATIONINSIGHTS_CONNECTION_STRING,
      ...(clientId ? { managedIdentityClientId: clientId } : {}),
    };
  }
  if (settings.OTEL_TRACES_EXPORTER === 'console') return { kind: 'console' };
  if (settings.OTEL_TRACES_EXPORTER !== 'none' && settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    return { kind: 'otlp' };
  return { kind: 'off' };
}

/**
 * The client id in `ClientId=<id>;Authorization=AAD`, the form App Service documents for Entra ID ingestion
 * (infra/app/api.bicep sets it). Without `Authorization=AAD` there is no identity to use.
 */
function managedIdentityClientId(authenticationString: string | undefined): string | undefined {
  if (!authenticationString) return undefined;
  const parts = new Map(
    authenticationString.split(';').map((part) => {
      const [name = '', ...value] = part.split('=');
      return [name.trim().toLowerCase(), value.join('=').trim()] as const;
    }),
  );
  return parts.get('authorization')?.toUpperCase() === 'AAD' ? parts.get('clientid') || undefined : undefined;
}
