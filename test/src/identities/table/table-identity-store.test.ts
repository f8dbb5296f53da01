import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { odata, TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { TableIdentityStore } from '../../../../src/identities/table/table-identity-store.js';
import { IdentityStoreUnavailableError } from '../../../../src/shared/errors.js';
import { type RunningAzurite, startAzurite } from '../../../support/azurite.js';
import { describeIdentityStoreContract } from '../identity-store.contract.js';

const connectionString = inject('azuriteConnectionString');
const tableName = `store${randomUUID().replaceAll('-', '')}`;

describeIdentityStoreContract('TableIdentityStore', async () => {
  const store = TableIdentityStore.fromConnectionString(connectionString, tableName);
  await store.ensureTable();
  return store;
});

/** The shared Azurite's connection string, pointed at another local endpoint. */
function connectionStringFor(port: number): string {
  return connectionString.replace(
    /TableEndpoint=[^;]+/,
    `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
  );
}

const neverCalled: TokenCredential = {
  getToken: () => Promise.reject(new Error('constructing a store must not fetch a token')),
};

describe('TableIdentityStore on Azure Table Storage', () => {
  it('keeps only key-safe characters in keys and the raw values as properties', async () => {
    const store = TableIdentityStore.fromConnectionString(connectionString, tableName);
    await store.ensureTable();
    const mapping = {
      issuer: `https://issuer.test/${randomUUID()}/v2.0?x=1#y`,
      userId: `a/b\\c#d?e\u0000\u007f😀${'z'.repeat(2048)}`,
      communicationUserId: `8:acs:${randomUUID()}`,
      createdAt: new Date().toISOString(),
    };
    await store.insert(mapping);

    const raw = TableClient.fromConnectionString(connectionString, tableName, {
      allowInsecureConnection: true,
    });
    const entities = [];
    const filter = odata`communicationUserId eq ${mapping.communicationUserId}`;
    for await (const entity of raw.listEntities({ queryOptions: { filter } })) entities.push(entity);
    expect(entities).toHaveLength(1);
    const [entity] = entities;
    expect(entity).toMatchObject(mapping);
    for (const key of [entity!.partitionKey, entity!.rowKey]) {
      expect(key).toMatch(/^[bh][A-Za-z0-9_-]{1,400}$/);
    }
  });

  it('creates its table idempotently', async () => {
    const store = TableIdentityStore.fromConnectionString(
      connectionString,
      `idem${randomUUID().slice(0, 8)}`,
    );
    await store.ensureTable();
    await store.ensureTable();
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('reports a missing table as unavailable', async () => {
    const store = TableIdentityStore.fromConnectionString(
      connectionString,
      `missing${randomUUID().slice(0, 8)}`,
    );
    await expect(store.ping()).rejects.toBeInstanceOf(IdentityStoreUnavailableError);
    await expect(store.read({ issuer: 'i', userId: 'u' })).rejects.toBeInstanceOf(
      IdentityStoreUnavailableError,
    );
  });

  it('refuses plain http to anything but loopback', () => {
    const key = /AccountKey=([^;]+)/.exec(connectionString)![1];
    const remoteHttp = [
      `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`,
      `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};TableEndpoint=http://10.0.0.5:10002/acct`,
    ];
    for (const cs of remoteHttp) {
      expect(() => TableIdentityStore.fromConnectionString(cs, 'Identities')).toThrow(/https/);
    }
    expect(() =>
      TableIdentityStore.fromEndpoint('http://acct.table.core.windows.net', neverCalled, 'Identities'),
    ).toThrow(/https/);
    expect(() => TableIdentityStore.fromEndpoint('ftp://127.0.0.1/acct', neverCalled, 'Identities')).toThrow(
      /https/,
    );

    const accepted = [
      () => TableIdentityStore.fromEndpoint('https://acct.table.core.windows.net', neverCalled, 'Identities'),
      () => TableIdentityStore.fromEndpoint('http://localhost:10002/acct', neverCalled, 'Identities'),
      () => TableIdentityStore.fromEndpoint('http://[::1]:10002/acct', neverCalled, 'Identities'),
      () => TableIdentityStore.fromConnectionString('UseDevelopmentStorage=true', 'Identities'),
      () =>
        TableIdentityStore.fromConnectionString(
          `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`,
          'Identities',
        ),
    ];
    for (const build of accepted) expect(build()).toBeInstanceOf(TableIdentityStore);
  });

  it('never repeats a bad connection string in its error', () => {
    const secretish = 'AccountKey=c2VjcmV0;NotAConnectionString=yes';
    expect(() => TableIdentityStore.fromConnectionString(secretish, 'Identities')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('c2VjcmV0') }),
    );
  });

  it('refuses a table name Azure would reject', () => {
    for (const bad of ['ab', '1table', 'has-dash', 'x'.repeat(64)]) {
      expect(() => TableIdentityStore.fromConnectionString(connectionString, bad)).toThrow(/table name/);
    }
  });

  describe('when the storage service fails', () => {
    const servers: Server[] = [];
    afterEach(async () => {
      for (const server of servers.splice(0)) {
        server.closeAllConnections();
        server.close();
        await once(server, 'close');
      }
    });

    async function listen(server: Server): Promise<number> {
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return (server.address() as AddressInfo).port;
    }

    it('turns server errors into IdentityStoreUnavailableError', async () => {
      let requests = 0;
      const port = await listen(
        createHttpServer((_request, response) => {
          requests++;
          response.writeHead(500, { 'content-type': 'application/json' }).end('{}');
        }),
      );
      const store = TableIdentityStore.fromConnectionString(connectionStringFor(port), 'Identities');
      await expect(store.read({ issuer: 'i', userId: 'u' })).rejects.toBeInstanceOf(
        IdentityStoreUnavailableError,
      );
      expect(requests).toBe(3); // the first attempt and two quick retries
    });

    it('gives up at the end of its time budget when the service never answers', async () => {
      const sockets: Socket[] = [];
      const silent = createTcpServer((socket) => sockets.push(socket));
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      try {
        const port = (silent.address() as AddressInfo).port;
        const store = TableIdentityStore.fromConnectionString(connectionStringFor(port), 'Identities', {
          operationTimeoutMs: 300,
        });
        const failure = store.ping();
        await expect(failure).rejects.toBeInstanceOf(IdentityStoreUnavailableError);
        await expect(failure).rejects.toThrow(/in time/);
      } finally {
        for (const socket of sockets) socket.destroy();
        silent.close();
      }
    });
  });

  describe('across an Azurite outage', () => {
    let azurite: RunningAzurite;
    // Started in a hook: on a busy machine an Azurite start takes what it is given, and is not what is tested.
    beforeAll(async () => {
      azurite = await startAzurite();
    });
    afterAll(async () => {
      await azurite?.stop();
    });

    it('fails fast while Azurite is down and works again after it restarts, with the same store object', async () => {
      const operationTimeoutMs = 5_000;
      const store = TableIdentityStore.fromConnectionString(azurite.connectionString, 'Outage', {
        operationTimeoutMs,
      });
      await store.ensureTable();
      const user = { issuer: 'https://issuer.test/outage', userId: 'alice' };
      const mapping = { ...user, communicationUserId: '8:acs:outage_1', createdAt: new Date().toISOString() };
      const inserted = await store.insert(mapping);

      await azurite.stop();
      const started = performance.now();
      const outcomes = await Promise.allSettled([
        store.ping(),
        store.read(user),
        store.insert({ ...mapping, userId: 'bob' }),
        store.replace({ ...mapping, revocation: 1 }, inserted!.version),
        store.remove(user, inserted!.version),
      ]);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: expect.any(IdentityStoreUnavailableError),
        });
      }
      // Fast: within the store's own budget (with room for a busy machine), not backing off for a minute. Azurite's
      // starts, which take what a busy machine gives them, are outside this clock.
      expect(performance.now() - started).toBeLessThan(2 * operationTimeoutMs);

      await azurite.restart();
      // Azurite keeps its data in memory, so the restart lost the table: recreate it, as a start-up would.
      await store.ensureTable();
      await expect(store.ping()).resolves.toBeUndefined();
      const again = await store.insert(mapping);
      expect(again?.record).toEqual(mapping);
      expect(await store.read(user)).toEqual(again);
    });
  });
});
