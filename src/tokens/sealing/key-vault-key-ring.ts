import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { RestError, type TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  type CryptographyClientOptions,
  KeyClient,
  type KeyVaultKey,
} from '@azure/keyvault-keys';
import type { Logger } from '../../log.js';
import { isLoopbackUrl } from '../../shared/loopback.js';
import { LruMap } from '../../shared/lru-map.js';
import { type SealingKey, type SealingKeyRing, TokenSealingUnavailableError } from './key-ring.js';

export interface KeyVaultKeyRingOptions {
  /** TOKEN_SEALING_KEY_URL: `https://<vault>/keys/<name>` (follows the newest version) or `.../<name>/<version>`. */
  keyUrl: string;
  /** The app's managed identity; it needs keys/read, wrapKey and unwrapKey on that key and nothing else. */
  credential: TokenCredential;
  /** Where the wrapped data keys live, one row per generation (`${IDENTITY_TABLE_NAME}Keys`). */
  table: TableClient;
  log: Logger;
  /** Budget of one key resolution (Key Vault and table calls, retries included). Default 5 s. */
  operationTimeoutMs?: number;
  /** How often a running process looks for a newer Key Vault key version. Default 1 hour. */
  refreshIntervalMs?: number;
  /** After a failure, how long before Key Vault is asked again (requests meanwhile go without sharing). Default 30 s. */
  retryAfterFailureMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  clock?: () => number;
}

/** The Key Vault algorithm that wraps data keys: RSA-OAEP with SHA-256, done inside the vault. */
const WRAP_ALGORITHM = 'RSA-OAEP-256';
const PARTITION = 'dek';
const DATA_KEY_BYTES = 32;
/** Generations a process remembers, unusable ones included (ids come from sealed values, which anyone may forge). */
const MAX_REMEMBERED_GENERATIONS = 64;

interface DataKeyRow {
  partitionKey: string;
  rowKey: string;
  /** The versioned Key Vault key that wrapped this data key: the one that can unwrap it. */
  kekId: string;
  wrappedKey: string;
  algorithm: string;
  createdAt: string;
}

interface Remembered {
  key: Promise<SealingKey | undefined>;
  /** When an unusable generation may be looked up again; Infinity for a usable one. */
  retryAt: number;
}

/**
 * Envelope encryption: each generation's 256-bit data key is random, wrapped by a Key Vault RSA key (the key
 * encryption key, whose private half never leaves the vault) and stored wrapped in a table every instance shares.
 * A generation belongs to one version of the Key Vault key and its id derives from that version, so every
 * instance resolving the same version looks for the same row; the row is created conditionally, so instances
 * starting together agree on one data key. Each process unwraps a generation once and keeps the data key in memory.
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
    return this.#refresh();
  }

  async find(id: string): Promise<SealingKey | undefined> {
    const now = this.#options.clock();
    if (this.#current?.key.id === id) return this.#current.key;
    const remembered = this.#generations.get(id);
    if (remembered && now < remembered.retryAt) return remembered.key;
    const entry: Remembered = { key: Promise.resolve(undefined), retryAt: Number.POSITIVE_INFINITY };
    entry.key = this.#withinBudget((abortSignal) => this.#loadGeneration(id, abortSignal)).then(
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
    return entry.key;
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

  /** The generation of the Key Vault key's current (or configured) version, creating its data key if needed. */
  async #resolveCurrent(abortSignal: AbortSignal): Promise<SealingKey> {
    const kek = await this.#keys.getKey(this.#keyName, { version: this.#keyVersion, abortSignal });
    if (!this.#isOurKeyVersion(kek.id)) {
      throw new Error('Key Vault answered with a key other than the configured one');
    }
    const id = generationIdOf(kek.id);
    const known = this.#generations.get(id);
    const knownKey = known?.retryAt === Number.POSITIVE_INFINITY ? await known.key : undefined;
    if (knownKey) return knownKey;
    const existing = await this.#readRow(id, abortSignal);
    if (existing) return this.#unwrapRow(id, existing, abortSignal, kek);

    const dataKey = randomBytes(DATA_KEY_BYTES);
    const { result: wrapped } = await new CryptographyClient(
      kek,
      this.#options.credential,
      this.#clientOptions,
    ).wrapKey(WRAP_ALGORITHM, dataKey, { abortSignal });
    const row: DataKeyRow = {
      partitionKey: PARTITION,
      rowKey: id,
      kekId: kek.id,
      wrappedKey: Buffer.from(wrapped).toString('base64url'),
      algorithm: WRAP_ALGORITHM,
      createdAt: new Date(this.#options.clock()).toISOString(),
    };
    await this.#options.table.createTable({ abortSignal });
    try {
      await this.#options.table.createEntity(row, { abortSignal });
      this.#options.log('information', { event: 'token_sealing_key_created', generation: id });
      return { id, key: createSecretKey(dataKey) };
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 409)) throw error;
    }
    // Another instance created this generation first: its data key is the one everybody uses.
    const winner = await this.#readRow(id, abortSignal);
    if (!winner) throw new Error('The data key row vanished after a conflicting insert');
    return this.#unwrapRow(id, winner, abortSignal, kek);
  }

  async #loadGeneration(id: string, abortSignal: AbortSignal): Promise<SealingKey | undefined> {
    const row = await this.#readRow(id, abortSignal);
    return row ? this.#unwrapRow(id, row, abortSignal) : undefined;
  }

  async #readRow(id: string, abortSignal: AbortSignal): Promise<DataKeyRow | undefined> {
    try {
      return await this.#options.table.getEntity<DataKeyRow>(PARTITION, id, { abortSignal });
    } catch (error) {
      // 404: no such row, or no table yet (nothing sealed with Key Vault so far).
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async #unwrapRow(
    id: string,
    row: DataKeyRow,
    abortSignal: AbortSignal,
    kek: KeyVaultKey | string = row.kekId,
  ): Promise<SealingKey> {
    // A row naming any other key is refused before a token is sent anywhere: someone able to write the table could
    // otherwise point it at a vault of theirs and collect a bearer token for Key Vault.
    if (
      typeof row.kekId !== 'string' ||
      typeof row.wrappedKey !== 'string' ||
      row.algorithm !== WRAP_ALGORITHM ||
      !this.#isOurKeyVersion(row.kekId) ||
      generationIdOf(row.kekId) !== id
    ) {
      throw new Error('The data key row does not belong to the configured Key Vault key');
    }
    const { result } = await new CryptographyClient(
      kek,
      this.#options.credential,
      this.#clientOptions,
    ).unwrapKey(WRAP_ALGORITHM, Buffer.from(row.wrappedKey, 'base64url'), { abortSignal });
    if (result.length !== DATA_KEY_BYTES) throw new Error('The unwrapped data key has the wrong length');
    return { id, key: createSecretKey(Buffer.from(result)) };
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

/** A short, stable id for the generation of one Key Vault key version: the same on every instance. */
export function generationIdOf(versionedKeyId: string): string {
  return createHash('sha256').update(versionedKeyId).digest('base64url').slice(0, 11);
}

/** Why a key operation failed, without messages (which may quote URLs or service text). */
function describeFailure(error: unknown): string {
  if (error instanceof Error && 'statusCode' in error && typeof error.statusCode === 'number') {
    const code = 'code' in error && typeof error.code === 'string' ? ` ${error.code}` : '';
    return `HTTP ${error.statusCode}${code}`;
  }
  return error instanceof Error ? error.name : 'unknown';
}
