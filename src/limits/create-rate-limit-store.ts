import type { TokenCredential } from '@azure/identity';
import type { Settings } from '../settings.js';
import { tableClientFor } from '../shared/table-client.js';
import { DEFAULT_MAX_BUCKETS } from '../shared/token-buckets.js';
import { MemoryRateLimitStore } from './memory-rate-limit-store.js';
import type { RateLimitStore } from './rate-limit-store.js';
import { TableRateLimitStore } from './table-rate-limit-store.js';

const LIMITS_SUFFIX = 'Limits';
const MAX_TABLE_NAME_LENGTH = 63;

/** The rate-limit table beside the identity table: `<IDENTITY_TABLE_NAME>Limits`, shortened to fit 63 characters. */
export function limitsTableName(identityTableName: string): string {
  return `${identityTableName.slice(0, MAX_TABLE_NAME_LENGTH - LIMITS_SUFFIX.length)}${LIMITS_SUFFIX}`;
}

/**
 * The per-user buckets: in the identity store's storage account when the identity store is `table` (so every
 * instance counts into the same buckets), in this instance's memory otherwise (one instance, or a demo).
 */
export function createRateLimitStore(
  store: Settings['store'],
  perMinute: number,
  credential?: TokenCredential,
): RateLimitStore {
  if (store.kind === 'memory')
    return new MemoryRateLimitStore({ perMinute, maxBuckets: DEFAULT_MAX_BUCKETS });
  return new TableRateLimitStore(
    tableClientFor(store.connection, limitsTableName(store.tableName), credential),
    {
      perMinute,
    },
  );
}
