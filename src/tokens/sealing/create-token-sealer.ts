import type { TokenCredential } from '@azure/identity';
import type { IdentityStoreOptions } from '../../identities/create-store.js';
import type { Logger } from '../../log.js';
import { managedIdentityCredential } from '../../shared/credential.js';
import { developmentKeyRing, isDevelopmentStorage } from './development-key.js';
import { KeyVaultKeyRing } from './key-vault-key-ring.js';
import { AesGcmTokenSealer, type TokenSealer } from './token-sealer.js';

/** What decides whether and how reusable tokens are shared; the composition root passes the settings. */
export interface TokenSealingConfig {
  readonly tokens: {
    readonly reuse: {
      /** TOKEN_REUSE. */
      readonly enabled: boolean;
      /** TOKEN_SEALING_KEY_URL, and the managed identity that reads it. */
      readonly sealingKey?: { readonly keyUrl: string; readonly clientId?: string | undefined } | undefined;
    };
  };
  /** Where the identity store keeps its rows: the development key is for memory or the local storage only. */
  readonly store: IdentityStoreOptions;
  /** The request's time budget (REQUEST_TIMEOUT_MS); a request waits for Key Vault a quarter of it at most. */
  readonly requestTimeoutMs?: number | undefined;
}

export interface TokenSealerOptions {
  /** The process's one credential (src/shared/credential.ts), for Key Vault; tests pass their own. */
  credential?: TokenCredential;
}

/**
 * The sealer for tokens shared between instances, or undefined when they must not be shared:
 * TOKEN_REUSE=false → undefined; TOKEN_SEALING_KEY_URL set → a data key derived with the Key Vault key; identity store in
 * memory or the local development storage (isDevelopmentStorage) → the public development key; otherwise
 * undefined, with a warning naming the setting that turns sharing on.
 */
export function createTokenSealer(
  settings: TokenSealingConfig,
  log: Logger,
  options: TokenSealerOptions = {},
): TokenSealer | undefined {
  const { reuse } = settings.tokens;
  if (!reuse.enabled) return undefined;
  const { store } = settings;

  if (reuse.sealingKey && store.kind === 'table') {
    log('information', {
      event: 'token_sealing_key_vault',
      message:
        'Shared token reuse is on: tokens are sealed with a data key derived inside Key Vault from the key in TOKEN_SEALING_KEY_URL.',
    });
    const { keyUrl, clientId } = reuse.sealingKey;
    const credential = options.credential ?? managedIdentityCredential(clientId);
    return new AesGcmTokenSealer(
      new KeyVaultKeyRing({
        keyUrl,
        credential,
        log,
        // A request waits for Key Vault a quarter of its budget at most (1 s at most), leaving the rest to ACS.
        ...(settings.requestTimeoutMs
          ? { maxRequestWaitMs: Math.min(1_000, Math.floor(settings.requestTimeoutMs / 4)) }
          : {}),
      }),
    );
  }

  if (store.kind === 'memory' || isDevelopmentStorage(store.connection)) {
    log('information', {
      event: 'token_sealing_development_key',
      message:
        'Shared token reuse is on with the built-in development sealing key, which is public: fine for the local development storage, never for a real one. Set TOKEN_SEALING_KEY_URL to seal with Key Vault.',
    });
    return new AesGcmTokenSealer(developmentKeyRing());
  }

  log('warning', {
    event: 'token_sealing_off',
    message:
      "Shared token reuse is off: the identity store is not the local development storage (UseDevelopmentStorage=true, or Azurite's well-known account on a loopback address) and TOKEN_SEALING_KEY_URL is not set, so reusable tokens stay in each instance. Set TOKEN_SEALING_KEY_URL to a Key Vault key identifier to share them (docs/token-sealing.md).",
  });
  return undefined;
}
