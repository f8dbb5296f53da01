import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { AcsGateway, createIdentityClient } from '../../../src/acs/client.js';
import { createIdentityStore } from '../../../src/identities/create-store.js';
import { type IdentityStore, IdentityStoreUnavailableError } from '../../../src/identities/identity-store.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';
import { issueTokenForAnonymous, issueTokenForUser } from '../../../src/identities/provisioning.js';
import type { Logger } from '../../../src/log.js';

type RelayMode = 'pass' | 'drop-inserts' | 'lose-insert-answers' | 'down';

/**
 * A real HTTP hop in front of Azurite that can fail entity inserts: dropped before they reach storage, or applied
 * by storage with the answer lost on the way back (the ambiguous failure).
 */
async function startStorageRelay(target: URL) {
  let mode: RelayMode = 'pass';
  const isInsert = (method?: string, url?: string) =>
    method === 'POST' && !/\/Tables(\?|$)/.test(url ?? '') && !(url ?? '').includes('$batch');
  const server: Server = createServer((request, response) => {
    if (mode === 'down' || (mode === 'drop-inserts' && isInsert(request.method, request.url))) {
      request.socket.destroy();
      return;
    }
    const loseAnswer = mode === 'lose-insert-answers' && isInsert(request.method, request.url);
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        if (loseAnswer) {
          answer.resume();
          answer.on('end', () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => request.socket.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    setMode: (next: RelayMode) => {
      mode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const logs: Parameters<Logger>[] = [];
const log: Logger = (...args) => logs.push(args);

let emulator: RunningEmulator;
let gateway: AcsGateway;
let relay: Awaited<ReturnType<typeof startStorageRelay>>;
let relayedStore: IdentityStore;

async function activeIdentities(): Promise<string[]> {
  const response = await fetch(new URL('emulator/identities', emulator.endpoint));
  return ((await response.json()) as { identities: string[] }).identities;
}

beforeAll(async () => {
  emulator = await startEmulator();
  gateway = new AcsGateway(
    createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
    5_000,
  );
  const azurite = inject('azuriteConnectionString');
  const tableEndpoint = new URL(/TableEndpoint=([^;]+)/.exec(azurite)![1]!);
  relay = await startStorageRelay(tableEndpoint);
  relayedStore = createIdentityStore({
    kind: 'table',
    tableName: `Prov${Date.now()}`,
    connection: {
      kind: 'connectionString',
      connectionString: azurite.replace(
        /TableEndpoint=http:\/\/127\.0\.0\.1:\d+/,
        `TableEndpoint=http://127.0.0.1:${relay.port}`,
      ),
    },
  });
});
afterAll(async () => {
  await relay.close();
  await emulator.close();
});

const order = { scopes: ['chat'] as const, expiresInMinutes: 60 };

describe('issueTokenForUser', () => {
  it('creates the identity with its token in one ACS call, then reuses it with one call per token', async () => {
    const store = new MemoryIdentityStore();
    const user = { issuer: 'https://issuer.example', userId: 'alice' };
    const first = gateway.session();
    const created = await issueTokenForUser({ store, acs: first, log }, user, order);
    expect(first.calls).toBe(1);
    expect(await store.get(user)).toMatchObject({
      ...user,
      communicationUserId: created.communicationUserId,
    });

    const second = gateway.session();
    const again = await issueTokenForUser({ store, acs: second, log }, user, {
      scopes: ['voip'],
      expiresInMinutes: 90,
    });
    expect(second.calls).toBe(1);
    expect(again.communicationUserId).toBe(created.communicationUserId);
    expect(again.token).not.toBe(created.token);
  });

  it('leaves one mapping and no orphan when first requests race, on Table Storage', async () => {
    relay.setMode('pass');
    const users = ['r1', 'r2', 'r3'].map((userId) => ({ issuer: 'https://issuer.example', userId }));
    const before = new Set(await activeIdentities());
    const grants = await Promise.all(
      users.flatMap((user) =>
        Array.from({ length: 8 }, () =>
          issueTokenForUser({ store: relayedStore, acs: gateway.session(), log }, user, order),
        ),
      ),
    );
    for (const [index, user] of users.entries()) {
      const mapping = await relayedStore.get(user);
      expect(
        new Set(grants.slice(index * 8, index * 8 + 8).map((grant) => grant.communicationUserId)),
      ).toEqual(new Set([mapping!.communicationUserId]));
    }
    const added = (await activeIdentities()).filter((id) => !before.has(id));
    expect(added.sort()).toEqual(
      (
        await Promise.all(users.map(async (user) => (await relayedStore.get(user))!.communicationUserId))
      ).sort(),
    );
  });

  it('deletes the identity it created when the mapping cannot be stored', async () => {
    relay.setMode('pass');
    await relayedStore.ping();
    relay.setMode('drop-inserts');
    const before = await activeIdentities();
    const session = gateway.session();
    const error = await issueTokenForUser(
      { store: relayedStore, acs: session, log },
      { issuer: 'i', userId: 'write-fails' },
      order,
    ).catch((caught: unknown) => caught);
    relay.setMode('pass');
    expect(error).toBeInstanceOf(IdentityStoreUnavailableError);
    expect(session.calls).toBe(2);
    expect(await activeIdentities()).toEqual(before);
    expect(await relayedStore.get({ issuer: 'i', userId: 'write-fails' })).toBeUndefined();
  });

  it('keeps the identity when the write landed but its answer was lost', async () => {
    relay.setMode('pass');
    await relayedStore.ping();
    relay.setMode('lose-insert-answers');
    const user = { issuer: 'i', userId: 'answer-lost' };
    const grant = await issueTokenForUser({ store: relayedStore, acs: gateway.session(), log }, user, order);
    relay.setMode('pass');
    expect((await relayedStore.get(user))?.communicationUserId).toBe(grant.communicationUserId);
    expect(await activeIdentities()).toContain(grant.communicationUserId);
  });

  it('makes no ACS call when the store cannot be read', async () => {
    relay.setMode('down');
    const session = gateway.session();
    const error = await issueTokenForUser(
      { store: relayedStore, acs: session, log },
      { issuer: 'i', userId: 'down' },
      order,
    ).catch((caught: unknown) => caught);
    relay.setMode('pass');
    expect(error).toBeInstanceOf(IdentityStoreUnavailableError);
    expect(session.calls).toBe(0);
  });
});

describe('issueTokenForAnonymous', () => {
  it('creates a new identity every time', async () => {
    const first = await issueTokenForAnonymous(gateway.session(), order);
    const second = await issueTokenForAnonymous(gateway.session(), order);
    expect(first.communicationUserId).not.toBe(second.communicationUserId);
  });
});
