import { createHash, createSecretKey, hkdfSync } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  type CryptographyClientOptions,
  KeyClient,
  type KeyVaultKey,
} from '@azure/keyvault-keys';
import type { Logger } from '../../log.js';
import { TokenSealingUnavailableError } from '../../shared/errors.js';
import { isLoopbackUrl } from '../../shared/loopback.js';
import { LruMap } from '../../shared/lru-map.js';
import type { SealingKey, SealingKeyRing } from './key-ring.js';

export interface KeyVaultKeyRingOptions {
  /** TOKEN_SEALING_KEY_URL: `https://<vault>/keys/<name>` (follows the newest version) or `.../<name>/<version>`. */
  keyUrl: string;
  /** The app's managed identity; it needs keys/read and keys/sign on that key (infra/app/keyvault.bicep). */
  credential: TokenCredential;
  log: Logger;
  /** Budget of one key resolution (Key Vault calls, retries included). Default 5 s. */
  operationTimeoutMs?: number;
  /**
   * The longest a request waits for Key Vault; the resolution goes on in the background, and the request goes
   * without sharing meanwhile. Keep it well inside REQUEST_TIMEOUT_MS. Default 1 s.
   */
  maxRequestWaitMs?: number;
  /** How often a running process looks for a newer Key Vault key version. Default 1 hour. */
  refreshIntervalMs?: number;
  /** After a failure, how long before Key Vault is asked again (requests meanwhile go without sharing). Default 30 s. */
  retryAfterFailureMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
}

/**
 * The signature the data key derives from: RSASSA-PKCS1-v1_5 with SHA-256, which is deterministic (RFC 8017, 8.2),
 * so every instance asking the vault to sign the same label with the same key version gets the same bytes.
 */
const SIGN_ALGORITHM = 'RS256';
/** What is signed. Versioned: a later derivation scheme signs another label and gets unrelated keys. */
const DERIVATION_LABEL = 'acs-token-service/token-sealing/data-key/v1';
const DATA_KEY_BYTES = 32;
/** Real Key Vault key versions are 32 lowercase hex characters; a generation id is the version itself. */
const KEY_VERSION = /^[0-9a-f]{32}$/;
/** What a request's wait ends with when Key Vault has not answered in time. */
const LATE = Symbol('late');
/** Generations a process remembers, unusable ones included (ids come from sealed values, which anyone may forge). */
const MAX_REMEMBERED_GENERATIONS = 64;

interface Remembered {
  key: Promise<SealingKey | undefined>;
  /** When an unusable generation may be looked up again; Infinity for a usable one. */
  retryAt: number;
}

/**
 * Data keys derived inside Key Vault, stored nowhere: the data key of a Key Vault key version is HKDF-SHA256 of
 * that version's RS256 signature over a fixed label. Only a principal allowed to sign with the vault key (the
 * app's identity) can compute it; every instance computes the same one, so instances agree without talking to each
 * other; and nothing in storage takes part, so someone able to write the storage account cannot choose or learn
 * the key (docs/token-sealing.md, threat model). A generation is one key version and its id is that version, so a
 * sealed value names the version that opens it; each process derives a generation once and keeps it in memory.
 */
export class KeyVaultKeyRing implements SealingKeyRing {
  readonly #vault: URL;
  readonly #keyName: string;
  readonly #keyVersion: string | undefined;
  readonly #keys: KeyClient;
  readonly #clientOptions: CryptographyClientOptions;
  readonly #options: Required<Omit<KeyVaultKeyRingOptions, 'keyUrl'>>;
  readonly #generations = new LruMap<string, Remembered>(MAX_REMEMBERED_GENERATIONS);
  #current: { key: SealingKey; resolvedAt: number } | undefined;
  #resolving: Promise<SealingKey> | undefined;
  #failedAt: number | undefined;

  constructor(options: KeyVaultKeyRingOptions) {
    const url = new URL(options.keyUrl);
    const [, collection, name, version] = url.pathname.split('/');
    if (url.protocol !== 'https:' || collection !== 'keys' || !name) {
      throw new Error('The sealing key URL must be a Key Vault key identifier (https://<vault>/keys/<name>)');
    }
    this.#vault = new URL(url.origin);
    this.#keyName = name;
    this.#keyVersion = version || undefined;
    this.#options = {
      operationTimeoutMs: 5_000,
      maxRequestWaitMs: 1_000,
      refreshIntervalMs: 60 * 60_000,
      retryAfterFailureMs: 30_000,
      clock: Date.now,
      ...options,
    };
    this.#clientOptions = {
      retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 },
      // The SDK refuses a challenge whose resource is not a parent domain of the vault host
      // (@azure/keyvault-common, keyVaultAuthenticationPolicy.ts, verifyChallengeResource). A loopback vault (the
      // local emulator, dev/keyvault) has an IP address for a host, which no resource can be a parent of; a token
      // sent there stays on this machine. Every other vault keeps the check.
      disableChallengeResourceVerification: isLoopbackUrl(this.#vault),
    };
    this.#keys = new KeyClient(this.#vault.origin, options.credential, this.#clientOptions);
  }

  async current(): Promise<SealingKey> {
    const now = this.#options.clock();
    const cached = this.#current;
    const mayAsk = this.#failedAt === undefined || now - this.#failedAt >= this.#options.retryAfterFailureMs;
    if (cached) {
      // A newer key version is picked up in the background; requests keep sealing with the one they have.
      if (mayAsk && now - cached.resolvedAt >= this.#options.refreshIntervalMs) {
        this.#refresh().catch(() => {});
      }
      return cached.key;
    }
    if (!mayAsk) throw new TokenSealingUnavailableError('The token sealing key is unavailable');
    if (this.#failedAt !== undefined) {
      // Key Vault failed before: ask again in the background and let requests go without sharing until it answers,
      // so a hanging vault costs requests no wait after the instance's first one.
      this.#refresh().catch(() => {});
      throw new TokenSealingUnavailableError('The token sealing key is unavailable');
    }
    return this.#atMostRequestWait(this.#refresh(), () => {
      throw new TokenSealingUnavailableError('The token sealing key is not resolved yet');
    });
  }

  async find(id: string): Promise<SealingKey | undefined> {
    const now = this.#options.clock();
    if (this.#current?.key.id === id) return this.#current.key;
    // Not a key version (a value of the development key, of the wrapped-key scheme before, or forged): no vault call.
    if (!KEY_VERSION.test(id)) return undefined;
    const remembered = this.#generations.get(id);
    if (remembered && now < remembered.retryAt) return remembered.key;
    const entry: Remembered = { key: Promise.resolve(undefined), retryAt: Number.POSITIVE_INFINITY };
    entry.key = this.#withinBudget((abortSignal) => this.#derive(this.#versionedKeyId(id), abortSignal)).then(
      (key) => {
        if (!key) entry.retryAt = this.#options.clock() + this.#options.retryAfterFailureMs;
        return key;
      },
      (error: unknown) => {
        entry.retryAt = this.#options.clock() + this.#options.retryAfterFailureMs;
        this.#warn('token_sealing_key_unavailable', error, id);
        return undefined;
      },
    );
    this.#generations.set(id, entry);
    return this.#atMostRequestWait(entry.key, () => undefined);
  }

  /** `pending`, or `late()` once maxRequestWaitMs has passed; `pending` goes on and is remembered either way. */
  async #atMostRequestWait<T>(pending: Promise<T>, late: () => T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<typeof LATE>((resolve) => {
      timer = setTimeout(() => resolve(LATE), this.#options.maxRequestWaitMs);
    });
    try {
      const first = await Promise.race([pending, waited]);
      return first === LATE ? late() : first;
    } finally {
      clearTimeout(timer);
    }
  }

  #refresh(): Promise<SealingKey> {
    this.#resolving ??= this.#withinBudget((abortSignal) => this.#resolveCurrent(abortSignal))
      .then(
        (key) => {
          this.#current = { key, resolvedAt: this.#options.clock() };
          this.#failedAt = undefined;
          this.#generations.set(key.id, { key: Promise.resolve(key), retryAt: Number.POSITIVE_INFINITY });
          return key;
        },
        (error: unknown) => {
          this.#failedAt = this.#options.clock();
          this.#warn('token_sealing_key_unavailable', error);
          throw new TokenSealingUnavailableError('The token sealing key is unavailable', { cause: error });
        },
      )
      .finally(() => {
        this.#resolving = undefined;
      });
    return this.#resolving;
  }

  /** The generation of the Key Vault key's current (or configured) version. */
  async #resolveCurrent(abortSignal: AbortSignal): Promise<SealingKey> {
    const kek = await this.#keys.getKey(this.#keyName, { version: this.#keyVersion, abortSignal });
    if (!this.#isOurKeyVersion(kek.id)) {
      throw new Error('Key Vault answered with a key other than the configured one');
    }
    const known = this.#generations.get(kek.properties.version ?? '');
    const knownKey = known?.retryAt === Number.POSITIVE_INFINITY ? await known.key : undefined;
    return knownKey ?? this.#derive(kek, abortSignal);
  }

  /** The data key of one key version: asks the vault to sign the label, then expands the signature with HKDF. */
  async #derive(kek: KeyVaultKey | string, abortSignal: AbortSignal): Promise<SealingKey> {
    const kekId = typeof kek === 'string' ? kek : kek.id;
    if (!this.#isOurKeyVersion(kekId)) throw new Error('Not a version of the configured Key Vault key');
    const id = kekId.split('/').at(-1) ?? '';
    if (!KEY_VERSION.test(id)) throw new Error('The Key Vault key version is not 32 hex characters');
    const digest = createHash('sha256').update(DERIVATION_LABEL).digest();
    const { result: signature } = await new CryptographyClient(
      kek,
      this.#options.credential,
      this.#clientOptions,
    ).sign(SIGN_ALGORITHM, digest, { abortSignal });
    const dataKey = Buffer.from(
      hkdfSync('sha256', signature, Buffer.alloc(0), DERIVATION_LABEL, DATA_KEY_BYTES),
    );
    // A fingerprint lets operators see that every instance adopted the same key, without showing the key.
    this.#options.log('information', {
      event: 'token_sealing_key_adopted',
      generation: id,
      fingerprint: fingerprintOf(dataKey),
    });
    return { id, key: createSecretKey(dataKey) };
  }

  #versionedKeyId(version: string): string {
    return `${this.#vault.origin}/keys/${this.#keyName}/${version}`;
  }

  /** A versioned identifier of the configured key in the configured vault (any version: older ones still open). */
  #isOurKeyVersion(kekId: string | undefined): kekId is string {
    if (kekId === undefined || !URL.canParse(kekId)) return false;
    const url = new URL(kekId);
    const [, collection, name, version, ...rest] = url.pathname.split('/');
    return (
      url.origin === this.#vault.origin &&
      url.search === '' &&
      collection === 'keys' &&
      name === this.#keyName &&
      !!version &&
      rest.length === 0
    );
  }

  async #withinBudget<T>(operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return operation(AbortSignal.timeout(this.#options.operationTimeoutMs));
  }

  #warn(event: string, error: unknown, generation?: string): void {
    this.#options.log('warning', {
      event,
      ...(generation === undefined ? {} : { generation }),
      reason: describeFailure(error),
      message:
        'Shared token reuse goes without this key for now: tokens it sealed do not open and are issued anew.',
    });
  }
}

/**
 * A short, one-way fingerprint of a data key for log lines: equal on every instance that holds the same key,
 * useless for finding the key (256 random-looking bits in, a domain-separated hash cut to 64 bits out).
 */
export function fingerprintOf(dataKey: Buffer): string {
  return createHash('sha256')
    .update('token-sealing key fingerprint\n')
    .update(dataKey)
    .digest('hex')
    .slice(0, 16);
}

/** Why a key operation failed, without messages (which may quote URLs or service text). */
function describeFailure(error: unknown): string {
  if (error instanceof Error && 'statusCode' in error && typeof error.statusCode === 'number') {
    const code = 'code' in error && typeof error.code === 'string' ? ` ${error.code}` : '';
    return `HTTP ${error.statusCode}${code}`;
  }
  return error instanceof Error ? error.name : 'unknown';
}
