import { RestError, TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { requireCredential } from './credential.js';
import { IdentityStoreUnavailableError } from './errors.js';
import { isLoopbackUrl } from './loopback.js';

/** How the app reaches Table Storage: a connection string, or an endpoint with a managed identity. */
export type TableConnection =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  | { readonly kind: 'endpoint'; readonly endpoint: string };

/**
 * Few, quick retries: a request waiting on the store holds a user's token request, so an unreachable store must
 * fail within the operation budget (and the caller answers 503) instead of backing off for a minute.
 */
const RETRY_OPTIONS = { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 };

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/**
 * A client for `tableName` over `connection`; every table of the app is reached through here. An endpoint is
 * reached with `credential`, the process's one (src/shared/credential.ts).
 */
export function tableClientFor(
  connection: TableConnection,
  tableName: string,
  credential?: TokenCredential,
): TableClient {
  return connection.kind === 'connectionString'
    ? tableClientFromConnectionString(connection.connectionString, tableName)
    : tableClientFromEndpoint(connection.endpoint, requireCredential(credential), tableName);
}

/**
 * The table service a connection reaches, read without building a client or a credential; undefined when it cannot
 * be read. Its query may hold a SAS: use its origin and path only.
 */
export function tableServiceUrl(connection: TableConnection): URL | undefined {
  try {
    return new URL(
      connection.kind === 'endpoint'
        ? connection.endpoint
        : TableClient.fromConnectionString(connection.connectionString, 'probe').url,
    );
  } catch {
    return undefined;
  }
}

/** An account-key or SAS connection string; `UseDevelopmentStorage=true` means the local Azurite. */
export function tableClientFromConnectionString(connectionString: string, tableName: string): TableClient {
  assertTableName(tableName);
  let tableUrl: string;
  try {
    tableUrl = TableClient.fromConnectionString(connectionString, tableName).url;
  } catch {
    // The parser's own error may quote the connection string; this one never does.
    throw new Error('The identity store connection string is not a valid storage connection string');
  }
  return TableClient.fromConnectionString(connectionString, tableName, clientOptions(tableUrl));
}

/** A table service endpoint (e.g. `https://account.table.core.windows.net`) with an Entra ID credential. */
export function tableClientFromEndpoint(
  endpoint: string,
  credential: TokenCredential,
  tableName: string,
): TableClient {
  assertTableName(tableName);
  return new TableClient(endpoint, tableName, credential, clientOptions(endpoint));
}

function assertTableName(tableName: string): void {
  if (!TABLE_NAME.test(tableName)) {
    throw new Error('The identity table name must be 3-63 letters or digits, starting with a letter');
  }
}

/** Plain HTTP only to this machine (Azurite); anything else must be HTTPS. */
function clientOptions(endpoint: string): TableServiceClientOptions {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error('The identity store endpoint is not a valid URL');
  }
  if (url.protocol === 'https:') return { retryOptions: RETRY_OPTIONS };
  if (url.protocol === 'http:' && isLoopbackUrl(url)) {
    return { retryOptions: RETRY_OPTIONS, allowInsecureConnection: true };
  }
  throw new Error('The identity store endpoint must use https (plain http is allowed for loopback only)');
}

export function hasStatus(error: unknown, status: number): boolean {
  return error instanceof RestError && error.statusCode === status;
}

export function errorCode(error: unknown): string | undefined {
  if (!(error instanceof RestError)) return undefined;
  return error.response?.headers.get('x-ms-error-code') ?? error.code;
}

const UNAVAILABLE_STATUSES = new Set([401, 403, 404, 408, 429]);
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
]);

/** The store-unavailable error for a failure of the storage service or the way to it; undefined for anything else. */
export function asUnavailable(error: unknown): IdentityStoreUnavailableError | undefined {
  if (error instanceof IdentityStoreUnavailableError) return error;
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') {
    return new IdentityStoreUnavailableError('The identity store did not answer in time', { cause: error });
  }
  if (CREDENTIAL_ERRORS.has(error.name)) {
    return new IdentityStoreUnavailableError('No credential for the identity store', { cause: error });
  }
  if (!(error instanceof RestError)) return undefined;
  if (error.statusCode === undefined) {
    return new IdentityStoreUnavailableError('The identity store is unreachable', { cause: error });
  }
  if (error.statusCode >= 500 || UNAVAILABLE_STATUSES.has(error.statusCode)) {
    return new IdentityStoreUnavailableError(`The identity store answered HTTP ${error.statusCode}`, {
      cause: error,
    });
  }
  return undefined;
}
