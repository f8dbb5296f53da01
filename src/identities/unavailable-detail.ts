import { isLoopbackUrl } from '../shared/loopback.js';
import { type TableConnection, tableServiceUrl } from '../shared/table-client.js';
import type { IdentityStoreOptions } from './create-store.js';

/**
 * The detail of the 503 answered when the identity store fails: which store, and, only when it is on this machine
 * (Azurite), where it was tried and what to start. A remote endpoint is never named (it would tell callers about the
 * deployment), and nothing from a connection string but a loopback origin and path is used (a SAS would be in its
 * query).
 */
export function storeUnavailableDetail(store: IdentityStoreOptions): string {
  if (store.kind === 'memory') return 'The identity store is unavailable. Retry later.';
  const local = loopbackEndpoint(store.connection);
  if (local === undefined) return 'The identity store (Azure Table Storage) is unavailable. Retry later.';
  return (
    `The identity store (Azure Table Storage at ${local}, table ${store.tableName}) is unavailable. ` +
    'Azurite is expected there: start it with npm run azurite, or let npm start start it.'
  );
}

function loopbackEndpoint(connection: TableConnection) {
  const endpoint = tableServiceUrl(connection);
  if (endpoint === undefined || !isLoopbackUrl(endpoint)) return undefined;
  return `${endpoint.protocol}//${endpoint.host}${endpoint.pathname}`.replace(/\/$/, '');
}
