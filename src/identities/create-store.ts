import type { Settings } from '../settings.js';
import { tableClientFor } from '../storage/table-client.js';
import {
  type IdentityMapping,
  type IdentityStore,
  IdentityStoreUnavailableError,
  type UserKey,
} from './identity-store.js';
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

  get(user: UserKey) {
    return this.use(() => this.table.get(user));
  }

  createIfAbsent(mapping: IdentityMapping) {
    return this.use(() => this.table.createIfAbsent(mapping));
  }

  markRevoked(user: UserKey, at: Date) {
    return this.use(() => this.table.markRevoked(user, at));
  }

  delete(user: UserKey, communicationUserId: string) {
    return this.use(() => this.table.delete(user, communicationUserId));
  }

  async *list() {
    await this.use(async () => undefined);
    yield* this.table.list();
  }

  ping() {
    return this.use(() => this.table.ping());
  }
}

/** The identity store IDENTITY_STORE selects. */
export function createIdentityStore(store: Settings['store']): IdentityStore {
  if (store.kind === 'memory') return new MemoryIdentityStore();
  return new TableReadyGate(new TableIdentityStore(tableClientFor(store.connection, store.tableName), {}));
}
