import type { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import {
  asUnavailable,
  errorCode,
  hasStatus,
  tableClientFromConnectionString,
  tableClientFromEndpoint,
} from '../../storage/table-client.js';
import {
  type IdentityMapping,
  IdentityNotFoundError,
  type IdentityStore,
  IdentityStoreUnavailableError,
  identityMappingSchema,
  laterRevocation,
  type UserKey,
} from '../identity-store.js';
import { toTableKey } from './table-keys.js';

export interface TableIdentityStoreOptions {
  /** Time budget of one store operation, retries included; past it the operation fails as unavailable. */
  operationTimeoutMs?: number;
}

const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;

/**
 * Optimistic-concurrency rounds before giving up on a mapping that keeps changing under us. Every lost round means
 * another writer finished, so this also bounds how many writers may race on one user.
 */
const MAX_CONFLICT_ROUNDS = 25;

/**
 * Mappings in Azure Table Storage, shared by every instance: partition = the escaped issuer, row = the escaped user
 * id, with the raw values kept as properties. Conditional writes (create fails on an existing row; replace and
 * delete carry the etag they read) make every method safe under concurrency.
 */
export class TableIdentityStore implements IdentityStore {
  readonly #client: TableClient;
  readonly #operationTimeoutMs: number;

  constructor(client: TableClient, options: TableIdentityStoreOptions = {}) {
    this.#client = client;
    this.#operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  }

  /** An account-key or SAS connection string; `UseDevelopmentStorage=true` means the local Azurite. */
  static fromConnectionString(
    connectionString: string,
    tableName: string,
    options: TableIdentityStoreOptions = {},
  ): TableIdentityStore {
    return new TableIdentityStore(tableClientFromConnectionString(connectionString, tableName), options);
  }

  /** A table service endpoint (e.g. `https://account.table.core.windows.net`) with an Entra ID credential. */
  static fromEndpoint(
    endpoint: string,
    credential: TokenCredential,
    tableName: string,
    options: TableIdentityStoreOptions = {},
  ): TableIdentityStore {
    return new TableIdentityStore(tableClientFromEndpoint(endpoint, credential, tableName), options);
  }

  /** Creates the table when it does not exist yet; idempotent. */
  async ensureTable(): Promise<void> {
    await this.#withinBudget((abortSignal) => this.#client.createTable({ abortSignal }));
  }

  async get(user: UserKey): Promise<IdentityMapping | undefined> {
    return this.#withinBudget(async (abortSignal) => (await this.#read(user, abortSignal))?.mapping);
  }

  async createIfAbsent(mapping: IdentityMapping): Promise<{ mapping: IdentityMapping; created: boolean }> {
    const candidate = identityMappingSchema.parse(mapping);
    return this.#withinBudget(async (abortSignal) => {
      for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
        try {
          await this.#client.createEntity(toEntity(candidate), { abortSignal });
          return { mapping: candidate, created: true };
        } catch (error) {
          if (!hasStatus(error, 409)) throw error;
        }
        const winner = await this.#read(candidate, abortSignal);
        // Absent again means the winner was deleted in between: try to create once more.
        if (winner) {
          const created = winner.mapping.communicationUserId === candidate.communicationUserId;
          return { mapping: winner.mapping, created };
        }
      }
      throw new IdentityStoreUnavailableError('The identity mapping kept changing during createIfAbsent');
    });
  }

  async markRevoked(user: UserKey, at: Date): Promise<IdentityMapping> {
    return this.#withinBudget(async (abortSignal) => {
      for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
        const stored = await this.#read(user, abortSignal);
        if (!stored) throw new IdentityNotFoundError('The user has no identity mapping');
        const revokedAt = laterRevocation(stored.mapping.revokedAt, at);
        if (revokedAt === stored.mapping.revokedAt) return stored.mapping;
        const updated = { ...stored.mapping, revokedAt };
        try {
          await this.#client.updateEntity(toEntity(updated), 'Replace', { etag: stored.etag, abortSignal });
          return updated;
        } catch (error) {
          // 412: changed since we read it; 404: deleted since. Either way, read again and decide.
          if (!hasStatus(error, 412) && !hasStatus(error, 404)) throw error;
        }
      }
      throw new IdentityStoreUnavailableError('The identity mapping kept changing during markRevoked');
    });
  }

  async delete(user: UserKey, communicationUserId: string): Promise<boolean> {
    return this.#withinBudget(async (abortSignal) => {
      for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
        const stored = await this.#read(user, abortSignal);
        if (stored?.mapping.communicationUserId !== communicationUserId) return false;
        try {
          await this.#client.deleteEntity(toTableKey(user.issuer), toTableKey(user.userId), {
            etag: stored.etag,
            abortSignal,
          });
          return true;
        } catch (error) {
          if (hasStatus(error, 404)) return false;
          if (!hasStatus(error, 412)) throw error;
        }
      }
      throw new IdentityStoreUnavailableError('The identity mapping kept changing during delete');
    });
  }

  async *list(): AsyncIterable<IdentityMapping> {
    let continuationToken: string | undefined;
    do {
      // One budget per page: a long listing is fine, a stalled page is not.
      const page = await this.#withinBudget(async (abortSignal) => {
        const next = await this.#client.listEntities({ abortSignal }).byPage({ continuationToken }).next();
        return next.done ? undefined : next.value;
      });
      for (const entity of page ?? []) yield identityMappingSchema.parse(entity);
      continuationToken = page?.continuationToken;
    } while (continuationToken);
  }

  async ping(): Promise<void> {
    await this.#withinBudget((abortSignal) =>
      this.#client
        .listEntities({ abortSignal, queryOptions: { select: ['PartitionKey'] } })
        .byPage({ maxPageSize: 1 })
        .next(),
    );
  }

  async #read(
    user: UserKey,
    abortSignal: AbortSignal,
  ): Promise<{ mapping: IdentityMapping; etag: string } | undefined> {
    try {
      const entity = await this.#client.getEntity(toTableKey(user.issuer), toTableKey(user.userId), {
        abortSignal,
      });
      return { mapping: identityMappingSchema.parse(entity), etag: entity.etag };
    } catch (error) {
      if (hasStatus(error, 404) && errorCode(error) !== 'TableNotFound') return undefined;
      throw error;
    }
  }

  async #withinBudget<T>(operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await operation(AbortSignal.timeout(this.#operationTimeoutMs));
    } catch (error) {
      throw asUnavailable(error) ?? error;
    }
  }
}

function toEntity(mapping: IdentityMapping) {
  return { partitionKey: toTableKey(mapping.issuer), rowKey: toTableKey(mapping.userId), ...mapping };
}
