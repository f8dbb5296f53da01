import type { TokenCredential } from '@azure/identity';
import { IdentityStoreUnavailableError } from '../shared/errors.js';
import { type TableConnection, tableClientFor } from '../shared/table-client.js';
import type { IdentityRecord, IdentityStore, UserKey } from './identity-store.js';
import { MemoryIdentityStore } from './memory/memory-identity-store.js';
import { TableIdentityStore } from './table/table-identity-store.js';

/**
 * Makes sure the table exists before its first use, without a start-up dependency on Storage: the first request
 * creates it. After the store was unavailable the check runs again, so a storage account that came back empty
 * (or a restarted Azurite) serves again without restarting the app.
 */
class TableReadyGate implements IdentityStore {
  #ready?: Promise<void>;

  constructor(private readonly table: TableIdentityStore) {}

  private async use<T>(operation: () => Promise<T>): Promise<T> {
    try {
      this.#ready ??= this.table.ensureTable();
      await this.#ready;
      return await operation();
    } catch (error) {
      const storageFailed = error instanceof Error && error.name === 'RestError';
      if (storageFailed || error instanceof IdentityStoreUnavailableError) this.#ready = undefined;
      throw storageFailed ? new IdentityStoreUnavailableError('the identity table could not be used') : error;
    }
  }

  read(user: UserKey) {
    return this.use(() => this.table.read(user));
  }

  insert(record: IdentityRecord) {
    return this.use(() => this.table.insert(record));
  }

  replace(record: IdentityRecord, version: string) {
    return this.use(() => this.table.replace(record, version));
  }

  remove(user: UserKey, version: string) {
    return this.use(() => this.table.remove(user, version));
  }

  async *list() {
    await this.use(async () => undefined);
    yield* this.table.list();
  }

  ping() {
    return this.use(() => this.table.ping());
  }

  now() {
    return this.table.now();
  }
}

/** Where the identity store keeps its rows (IDENTITY_STORE and its settings). */
export type IdentityStoreOptions =
  | { readonly kind: 'memory' }
  | { readonly kind: 'table'; readonly connection: TableConnection; readonly tableName: string };

/** The identity store IDENTITY_STORE selects; a table endpoint is reached with `credential`. */
export function createIdentityStore(
  store: IdentityStoreOptions,
  credential?: TokenCredential,
): IdentityStore {
  if (store.kind === 'memory') return new MemoryIdentityStore();
  return new TableReadyGate(
    new TableIdentityStore(tableClientFor(store.connection, store.tableName, credential)),
  );
}
