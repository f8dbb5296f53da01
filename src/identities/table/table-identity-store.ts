import type { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import {
  asUnavailable,
  errorCode,
  hasStatus,
  tableClientFromConnectionString,
  tableClientFromEndpoint,
} from '../../shared/table-client.js';
import {
  type IdentityRecord,
  type IdentityStore,
  identityRecordSchema,
  type UserKey,
  type Versioned,
} from '../identity-store.js';
import { toTableKey } from './table-keys.js';

export interface TableIdentityStoreOptions {
  /** Time budget of one store operation, retries included; past it the operation fails as unavailable. */
  operationTimeoutMs?: number;
}

const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;

/**
 * Records in Azure Table Storage, shared by every instance: partition = the escaped issuer, row = the escaped user
 * id, with the raw values kept as properties. Versions are the entities' ETags, so every conditional write of the
 * port is one conditional Table operation.
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

  async read(user: UserKey): Promise<Versioned | undefined> {
    return this.#withinBudget(async (abortSignal) => {
      try {
        const entity = await this.#client.getEntity(toTableKey(user.issuer), toTableKey(user.userId), {
          abortSignal,
        });
        return { record: identityRecordSchema.parse(entity), version: entity.etag };
      } catch (error) {
        if (hasStatus(error, 404) && errorCode(error) !== 'TableNotFound') return undefined;
        throw error;
      }
    });
  }

  async insert(record: IdentityRecord): Promise<Versioned | undefined> {
    const valid = identityRecordSchema.parse(record);
    return this.#withinBudget(async (abortSignal) => {
      try {
        const { etag } = await this.#client.createEntity(toEntity(valid), { abortSignal });
        return { record: valid, version: requireEtag(etag) };
      } catch (error) {
        if (hasStatus(error, 409)) return undefined;
        throw error;
      }
    });
  }

  async replace(record: IdentityRecord, version: string): Promise<Versioned | undefined> {
    const valid = identityRecordSchema.parse(record);
    return this.#withinBudget(async (abortSignal) => {
      try {
        const { etag } = await this.#client.updateEntity(toEntity(valid), 'Replace', {
          etag: version,
          abortSignal,
        });
        return { record: valid, version: requireEtag(etag) };
      } catch (error) {
        // 412: changed since it was read; 404: removed since.
        if (hasStatus(error, 412) || isEntityNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  async remove(user: UserKey, version: string): Promise<boolean> {
    return this.#withinBudget(async (abortSignal) => {
      try {
        await this.#client.deleteEntity(toTableKey(user.issuer), toTableKey(user.userId), {
          etag: version,
          abortSignal,
        });
        return true;
      } catch (error) {
        if (hasStatus(error, 412) || isEntityNotFound(error)) return false;
        throw error;
      }
    });
  }

  async *list(): AsyncIterable<IdentityRecord> {
    let continuationToken: string | undefined;
    do {
      // One budget per page: a long listing is fine, a stalled page is not.
      const page = await this.#withinBudget(async (abortSignal) => {
        const next = await this.#client.listEntities({ abortSignal }).byPage({ continuationToken }).next();
        return next.done ? undefined : next.value;
      });
      for (const entity of page ?? []) yield identityRecordSchema.parse(entity);
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

  async #withinBudget<T>(operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await operation(AbortSignal.timeout(this.#operationTimeoutMs));
    } catch (error) {
      throw asUnavailable(error) ?? error;
    }
  }
}

/** Absent optional fields are left out, so a Replace drops them from the stored entity. */
function toEntity(record: IdentityRecord) {
  const properties = Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
  return { partitionKey: toTableKey(record.issuer), rowKey: toTableKey(record.userId), ...properties };
}

/** A 404 for the entity, not for the whole table (which must surface as the store being unavailable). */
function isEntityNotFound(error: unknown): boolean {
  return hasStatus(error, 404) && errorCode(error) !== 'TableNotFound';
}

function requireEtag(etag: string | undefined): string {
  if (etag === undefined) throw new Error('Table Storage answered a write without an ETag');
  return etag;
}
