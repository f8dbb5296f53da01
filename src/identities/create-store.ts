import { DefaultAzureCredential } from '@azure/identity';
import type { Settings } from '../settings.js';
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
 * creates it, and a failure (storage down) is retried by the next request instead of being remembered.
 */
class TableReadyGate implements IdentityStore {
  #ready?: Promise<void>;

  constructor(private readonly table: TableIdentityStore) {}

  private async ready(): Promise<void> {
    this.#ready ??= this.table.ensureTable().catch((error: unknown) => {
      this.#ready = undefined;
      throw error instanceof IdentityStoreUnavailableError
        ? error
        : new IdentityStoreUnavailableError('the identity table could not be created');
    });
    await this.#ready;
  }

  async get(user: UserKey) {
    await this.ready();
    return this.table.get(user);
  }

  async createIfAbsent(mapping: IdentityMapping) {
    await this.ready();
    return this.table.createIfAbsent(mapping);
  }

  async markRevoked(user: UserKey, at: Date) {
    await this.ready();
    return this.table.markRevoked(user, at);
  }

  async delete(user: UserKey, communicationUserId: string) {
    await this.ready();
    return this.table.delete(user, communicationUserId);
  }

  async *list() {
    await this.ready();
    yield* this.table.list();
  }

  async ping() {
    await this.ready();
    await this.table.ping();
  }
}

/** The identity store IDENTITY_STORE selects. */
export function createIdentityStore(store: Settings['store']): IdentityStore {
  if (store.kind === 'memory') return new MemoryIdentityStore();
  const { connection, tableName } = store;
  const table =
    connection.kind === 'connectionString'
      ? TableIdentityStore.fromConnectionString(connection.connectionString, tableName)
      : TableIdentityStore.fromEndpoint(
          connection.endpoint,
          new DefaultAzureCredential(
            connection.clientId ? { managedIdentityClientId: connection.clientId } : {},
          ),
          tableName,
        );
  return new TableReadyGate(table);
}
