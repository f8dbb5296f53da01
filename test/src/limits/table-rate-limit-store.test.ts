import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { describe, expect, inject, it } from 'vitest';
import { IdentityStoreUnavailableError } from '../../../src/identities/identity-store.js';
import { createRateLimitStore, limitsTableName } from '../../../src/limits/create-rate-limit-store.js';
import { MemoryRateLimitStore } from '../../../src/limits/memory-rate-limit-store.js';
import { TableRateLimitStore, tableKeysOf } from '../../../src/limits/table-rate-limit-store.js';
import { tableClientFromConnectionString } from '../../../src/shared/table-client.js';
import { describeRateLimitStoreContract, manualClock } from './rate-limit-store.contract.js';

const connectionString = inject('azuriteConnectionString');
const newTableName = () => `limits${randomUUID().replaceAll('-', '')}`;

describeRateLimitStoreContract('TableRateLimitStore', async (perMinute, clock, count) => {
  const tableName = newTableName();
  // Separate clients and stores, as separate app instances have: only the table is shared.
  return Array.from(
    { length: count },
    () =>
      new TableRateLimitStore(tableClientFromConnectionString(connectionString, tableName), {
        perMinute,
        now: clock.now,
      }),
  );
});

/** A client over `tableName` that counts the requests it sends, by method. */
function countingClient(tableName: string) {
  const sent: string[] = [];
  const client = TableClient.fromConnectionString(connectionString, tableName, {
    allowInsecureConnection: true,
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'count-requests',
          sendRequest(request, next) {
            sent.push(request.method);
            return next(request);
          },
        },
      },
    ],
  });
  return { client, sent };
}

const key = () => JSON.stringify(['https://issuer.test', `user-${randomUUID()}`]);

describe('TableRateLimitStore on Azure Table Storage', () => {
  it('spends a token with one conditional write once it knows the row, and refuses an empty bucket without a request', async () => {
    const tableName = newTableName();
    const { client, sent } = countingClient(tableName);
    const store = new TableRateLimitStore(client, { perMinute: 3, now: manualClock().now });
    const user = key();
    await store.take(user);
    sent.length = 0;
    expect((await store.take(user)).allowed).toBe(true);
    expect(sent).toEqual(['PUT']);
    expect((await store.take(user)).allowed).toBe(true);
    expect((await store.take(user)).allowed).toBe(false);
    expect((await store.take(user)).allowed).toBe(false);
    expect(sent).toEqual(['PUT', 'PUT']);
  });

  it('keeps no user id in the table and spreads rows over partitions by a hash prefix', async () => {
    const tableName = newTableName();
    const store = new TableRateLimitStore(tableClientFromConnectionString(connectionString, tableName), {
      perMinute: 5,
    });
    const users = Array.from({ length: 20 }, () => `user-${randomUUID()}`);
    for (const user of users) await store.take(JSON.stringify(['https://issuer.test', user]));
    const rows = [];
    for await (const row of TableClient.fromConnectionString(connectionString, tableName, {
      allowInsecureConnection: true,
    }).listEntities()) {
      rows.push(row);
    }
    expect(rows).toHaveLength(20);
    const stored = JSON.stringify(rows);
    for (const user of users) expect(stored).not.toContain(user);
    expect(new Set(rows.map((row) => row.partitionKey)).size).toBeGreaterThan(5);
    expect(rows.map((row) => row.tokens)).toEqual(rows.map(() => 4));
    const [first] = users;
    expect(tableKeysOf(JSON.stringify(['https://issuer.test', first])).partitionKey).toMatch(/^[0-9a-f]{2}$/);
  });

  it('starts a full bucket again when an operator deleted the row, and when another instance wrote since', async () => {
    const tableName = newTableName();
    const clock = manualClock();
    const client = tableClientFromConnectionString(connectionString, tableName);
    const store = new TableRateLimitStore(client, { perMinute: 2, now: clock.now });
    const other = new TableRateLimitStore(tableClientFromConnectionString(connectionString, tableName), {
      perMinute: 2,
      now: clock.now,
    });
    const user = key();
    expect((await store.take(user)).allowed).toBe(true);
    expect((await other.take(user)).allowed).toBe(true);
    // `store` still believes one token is left: its write fails on the ETag, it reads, and refuses.
    expect((await store.take(user)).allowed).toBe(false);
    const { partitionKey, rowKey } = tableKeysOf(user);
    await client.deleteEntity(partitionKey, rowKey);
    expect((await store.take(user)).allowed).toBe(true);
  });

  it('fails as unavailable (503) when storage cannot be reached, within its time budget', async () => {
    const unreachable = connectionString.replace(
      /TableEndpoint=[^;]+/,
      'TableEndpoint=http://127.0.0.1:9/devstoreaccount1',
    );
    const store = new TableRateLimitStore(tableClientFromConnectionString(unreachable, newTableName()), {
      perMinute: 5,
      operationTimeoutMs: 3_000,
    });
    const started = performance.now();
    await expect(store.take(key())).rejects.toBeInstanceOf(IdentityStoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(4_000);
  });

  it('is what a table identity store gets, in a table of its own named after the identity table', () => {
    const table = {
      kind: 'table' as const,
      connection: { kind: 'connectionString' as const, connectionString },
      tableName: 'AcsIdentities',
    };
    expect(createRateLimitStore(table, 10)).toBeInstanceOf(TableRateLimitStore);
    expect(createRateLimitStore({ kind: 'memory' }, 10)).toBeInstanceOf(MemoryRateLimitStore);
    expect(limitsTableName('AcsIdentities')).toBe('AcsIdentitiesLimits');
    const longest = `T${'x'.repeat(62)}`;
    expect(limitsTableName(longest)).toBe(`T${'x'.repeat(56)}Limits`);
  });
});
