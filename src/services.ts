import type { TokenCredential } from '@azure/identity';
import { AcsGateway, createIdentityClient } from './acs/client.js';
import type { Services } from './app-services.js';
import { createCallerValidator } from './caller/index.js';
import { anyTenantIssuers } from './caller/issuers.js';
import type { JwtValidatorOptions } from './caller/jwt.js';
import { corsStep } from './http/cors.js';
import type { ServicesState as ServicesStateOf } from './http/pipeline.js';
import { failedAuthenticationLimit, userLimit } from './http/rate-limit.js';
import { preflightMethods } from './http/route-table.js';
import { createIdentityStore } from './identities/create-store.js';
import type { IdentityStore } from './identities/identity-store.js';
import { createRateLimitStore } from './limits/create-rate-limit-store.js';
import { consoleLogger, type Logger } from './log.js';
import { routes } from './routes.js';
import { loadSettings, type Settings, SettingsError } from './settings.js';
import { managedIdentityCredential } from './shared/credential.js';
import { createTokenSealer } from './tokens/sealing/index.js';
import { InstanceTokenReuse, SharedTokenReuse, type TokenReuse } from './tokens/token-reuse.js';

export type { Services } from './app-services.js';

/** Either working services, or the names of the settings that keep the service from working (never values). */
export type ServicesState = ServicesStateOf<Services>;

/**
 * TOKEN_REUSE's adapter: shared through the identity store when tokens can be sealed (src/tokens/sealing), else
 * kept in this instance's memory; undefined when reuse is off.
 */
function createTokenReuse(
  settings: Settings,
  store: IdentityStore,
  log: Logger,
  credential: TokenCredential,
  share: boolean,
): TokenReuse | undefined {
  const { reuse } = settings.tokens;
  if (!reuse.enabled) return undefined;
  const sealer = share ? createTokenSealer(settings, log, { credential }) : undefined;
  const options = { maxEntries: reuse.maxEntries };
  return sealer ? new SharedTokenReuse(store, sealer, options) : new InstanceTokenReuse(options);
}

export interface ServicesOptions {
  log?: Logger;
  /** Key-set cache tuning for tests; production uses the defaults. */
  jwt?: JwtValidatorOptions;
  /** False keeps reusable tokens per instance even where they could be shared; for the benchmark's comparison. */
  shareReusableTokens?: boolean;
}

export function createServices(settings: Settings, options: ServicesOptions = {}): Services {
  const log = options.log ?? consoleLogger;
  if (settings.auth.mode === 'anonymous') {
    log('warning', {
      event: 'anonymous_mode',
      message:
        'AUTH_MODE=anonymous: every caller gets a new ACS identity and nobody is verified. Use this only for demos.',
    });
  }
  for (const issuer of settings.auth.mode === 'jwt' ? anyTenantIssuers(settings.auth.issuers) : []) {
    log('warning', {
      event: 'any_tenant_issuer',
      issuer,
      message: `AUTH_ISSUERS lets users of every tenant in through ${issuer} ("tenants": ["*"]).`,
    });
  }
  if (settings.store.kind === 'memory') {
    log('warning', {
      event: 'memory_identity_store',
      message:
        'Identity mappings are kept in memory: they are lost on restart and not shared between instances.',
    });
  }
  // One credential for ACS, Table Storage and Key Vault: one token cache, one place that reads AZURE_CLIENT_ID.
  const credential = managedIdentityCredential(settings.managedIdentityClientId);
  const store = createIdentityStore(settings.store, credential);
  const { perMinute } = settings.rateLimit;
  return {
    settings,
    acsGateway: new AcsGateway(createIdentityClient(settings.acs, credential), settings.requestTimeoutMs),
    callerValidator: createCallerValidator(settings.auth, options.jwt),
    store,
    reuse: createTokenReuse(settings, store, log, credential, options.shareReusableTokens ?? true),
    failedAuthenticationLimit: failedAuthenticationLimit({ perMinute }),
    steps: {
      cors: corsStep({
        allowedOrigins: settings.cors.allowedOrigins,
        platformOrigins: settings.cors.platformOrigins,
        routeMethods: preflightMethods(() => routes),
      }),
      userLimit: userLimit({ perMinute, users: createRateLimitStore(settings.store, perMinute, credential) }),
    },
  };
}

/**
 * Services from an environment. Bad settings do not crash the worker: they are logged once (names only) and every
 * route then answers a 503 problem, which is what operators and health probes can see.
 */
export function servicesFromEnvironment(
  env: Record<string, string | undefined>,
  options: ServicesOptions = {},
): ServicesState {
  const log = options.log ?? consoleLogger;
  try {
    return { ready: true, services: createServices(loadSettings(env), { ...options, log }) };
  } catch (error) {
    const settingNames = error instanceof SettingsError ? error.settingNames : [];
    log('error', {
      event: 'invalid_settings',
      message:
        error instanceof SettingsError
          ? error.message
          : 'The service could not start its clients; check the ACS and identity store settings.',
      settingNames,
    });
    return { ready: false, settingNames };
  }
}

let processServices: ServicesState | undefined;

/** The services of this Functions worker process, created on first use. */
export function getServices(): ServicesState {
  processServices ??= servicesFromEnvironment(process.env);
  return processServices;
}
