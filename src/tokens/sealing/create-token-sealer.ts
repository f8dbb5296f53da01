import type { TokenCredential } from '@azure/identity';
import type { Logger } from '../../log.js';
import type { Settings } from '../../settings.js';
import { managedIdentityCredential } from '../../shared/credential.js';
import { isLoopbackUrl } from '../../shared/loopback.js';
import { tableClientFor, tableServiceUrl } from '../../shared/table-client.js';
import { developmentKeyRing } from './development-key.js';
import { KeyVaultKeyRing } from './key-vault-key-ring.js';
import { AesGcmTokenSealer, type TokenSealer } from './token-sealer.js';

export interface TokenSealerOptions {
  /** The process's one credential (src/shared/credential.ts), for Key Vault and the keys table; tests pass their own. */
  credential?: TokenCredential;
}

/** The table of wrapped data keys, next to the identity table; table names end at 63 characters. */
export function sealingKeysTableName(identityTableName: string): string {
  return `${identityTableName.slice(0, 59)}Keys`;
}

/**
 * The sealer for tokens shared between instances, or undefined when they must not be shared:
 * TOKEN_REUSE=false → undefined; TOKEN_SEALING_KEY_URL set → Key Vault envelope encryption; identity store in
 * memory or on a loopback endpoint (Azurite) → the public development key; otherwise undefined, with a warning
 * naming the setting that turns sharing on.
 */
export function createTokenSealer(
  settings: Pick<Settings, 'tokens' | 'store'>,
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
        'Shared token reuse is on: tokens are sealed with a data key wrapped by the Key Vault key in TOKEN_SEALING_KEY_URL.',
    });
    const { keyUrl, clientId } = reuse.sealingKey;
    const credential = options.credential ?? managedIdentityCredential(clientId);
    return new AesGcmTokenSealer(
      new KeyVaultKeyRing({
        keyUrl,
        credential,
        table: tableClientFor(store.connection, sealingKeysTableName(store.tableName), credential),
        log,
      }),
    );
  }

  const endpoint = store.kind === 'memory' ? undefined : tableServiceUrl(store.connection);
  const local = store.kind === 'memory' || (endpoint !== undefined && isLoopbackUrl(endpoint));
  if (local) {
    log('information', {
      event: 'token_sealing_development_key',
      message:
        'Shared token reuse is on with the built-in development sealing key, which is public: fine for a local store, never for a shared one. Set TOKEN_SEALING_KEY_URL to seal with Key Vault.',
    });
    return new AesGcmTokenSealer(developmentKeyRing());
  }

  log('warning', {
    event: 'token_sealing_off',
    message:
      'Shared token reuse is off: the identity store is not local and TOKEN_SEALING_KEY_URL is not set, so reusable tokens stay in each instance. Set TOKEN_SEALING_KEY_URL to a Key Vault key identifier to share them (docs/token-sealing.md).',
  });
  return undefined;
}
