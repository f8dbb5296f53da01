import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../../../../dev/keyvault/index.js';
import type { Logger } from '../../../../src/log.js';
import { tableClientFromConnectionString } from '../../../../src/shared/table-client.js';
import { TokenSealingUnavailableError } from '../../../../src/tokens/sealing/key-ring.js';
import {
  generationIdOf,
  KeyVaultKeyRing,
  type KeyVaultKeyRingOptions,
} from '../../../../src/tokens/sealing/key-vault-key-ring.js';
import { AesGcmTokenSealer, sealingBinding } from '../../../../src/tokens/sealing/token-sealer.js';
import { useKeyVaultEmulator } from '../../../support/key-vault.js';

const token = `eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.${randomBytes(200).toString('base64url')}`;
const binding = sealingBinding({
  issuer: 'https://issuer.example',
  userId: 'u1',
  communicationUserId: '8:acs:r_1',
});

const vaultOf = useKeyVaultEmulator();
let vault: RunningKeyVaultEmulator;
beforeAll(() => {
  vault = vaultOf();
});

let keyName: string;
let table: TableClient;
let logs: { level: string; event: Record<string, unknown> }[];
const log: Logger = (level, event) => logs.push({ level, event });

beforeEach(() => {
  const suffix = randomBytes(4).toString('hex');
  keyName = `sealing-${suffix}`;
  table = tableClientFromConnectionString(inject('azuriteConnectionString'), `Seal${suffix}Keys`);
  logs = [];
});

/** One instance of the service: its own credential, clients and caches, sharing only the vault and the table. */
function instance(options: Partial<KeyVaultKeyRingOptions> = {}) {
  const ring = new KeyVaultKeyRing({
    keyUrl: vault.keyUrl(keyName),
    credential: new DefaultAzureCredential(),
    table: tableClientFromConnectionString(inject('azuriteConnectionString'), table.tableName),
    log,
    ...options,
  });
  return { ring, sealer: new AesGcmTokenSealer(ring) };
}

async function rows() {
  const found = [];
  for await (const row of table.listEntities<{ kekId: string; wrappedKey: string }>()) found.push(row);
  return found;
}

describe('KeyVaultKeyRing: envelope encryption through the real Key Vault SDK, the emulator and Azurite', () => {
  it('lets instances starting together agree on one data key, stored only wrapped', async () => {
    const kekId = vault.createKey(keyName);
    const instances = [instance(), instance(), instance()];
    const sealed = await Promise.all(instances.map(({ sealer }) => sealer.seal(token, binding)));

    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ partitionKey: 'dek', rowKey: generationIdOf(kekId), kekId });
    expect(Buffer.from(stored[0]!.wrappedKey, 'base64url')).toHaveLength(256);
    for (const value of sealed) {
      expect(value.startsWith(`s1.${generationIdOf(kekId)}.`)).toBe(true);
      for (const { sealer } of instances) expect(await sealer.open(value, binding)).toBe(token);
    }
    expect(logs.filter(({ event }) => event.event === 'token_sealing_key_created')).toHaveLength(1);
  });

  it('lets a later instance open what an earlier one sealed, unwrapping the data key once', async () => {
    vault.createKey(keyName);
    const sealed = await instance().sealer.seal(token, binding);

    const later = instance();
    const before = vault.stats();
    for (let i = 0; i < 20; i++) expect(await later.sealer.open(sealed, binding)).toBe(token);
    expect(await later.sealer.seal(token, binding)).toMatch(/^s1\./);
    const after = vault.stats();
    expect(after.unwrapKey - before.unwrapKey).toBe(1);
    expect(after.wrapKey - before.wrapKey).toBe(0);
  });

  it('rotates with the Key Vault key: a new version brings a new generation, older values open until their version is disabled', async () => {
    const firstVersion = vault.createKey(keyName);
    let now = Date.now();
    const running = instance({ clock: () => now, refreshIntervalMs: 60_000 });
    const sealedOld = await running.sealer.seal(token, binding);

    const secondVersion = vault.createKey(keyName);
    // Before the refresh interval the running instance keeps sealing with what it has.
    expect(await running.sealer.seal(token, binding)).toMatch(
      new RegExp(`^s1\\.${generationIdOf(firstVersion)}\\.`),
    );
    now += 60_000;
    await running.sealer.seal(token, binding); // starts the background refresh
    await expect
      .poll(() => running.sealer.seal(token, binding))
      .toMatch(new RegExp(`^s1\\.${generationIdOf(secondVersion)}\\.`));
    expect(await rows()).toHaveLength(2);

    const fresh = instance();
    const sealedNew = await fresh.sealer.seal(token, binding);
    expect(sealedNew.startsWith(`s1.${generationIdOf(secondVersion)}.`)).toBe(true);
    expect(await fresh.sealer.open(sealedOld, binding)).toBe(token);

    vault.setKeyEnabled(firstVersion, false);
    const afterRetirement = instance();
    expect(await afterRetirement.sealer.open(sealedOld, binding)).toBeUndefined();
    expect(await afterRetirement.sealer.open(sealedNew, binding)).toBe(token);
  });

  it('follows a pinned version when the key URL names one', async () => {
    const pinned = vault.createKey(keyName);
    vault.createKey(keyName);
    const { sealer } = instance({ keyUrl: pinned });
    expect(await sealer.seal(token, binding)).toMatch(new RegExp(`^s1\\.${generationIdOf(pinned)}\\.`));
  });

  it('fails closed while Key Vault refuses: seal rejects, open answers undefined, and it recovers later', async () => {
    vault.createKey(keyName);
    const sealed = await instance().sealer.seal(token, binding);
    let now = Date.now();
    const cut = instance({ clock: () => now, retryAfterFailureMs: 30_000 });
    vault.setAccess(vault.managedIdentity.clientId, false);
    try {
      await expect(cut.sealer.seal(token, binding)).rejects.toBeInstanceOf(TokenSealingUnavailableError);
      expect(await cut.sealer.open(sealed, binding)).toBeUndefined();
      const before = vault.stats();
      await expect(cut.sealer.seal(token, binding)).rejects.toBeInstanceOf(TokenSealingUnavailableError);
      expect(vault.stats().getKey).toBe(before.getKey);
    } finally {
      vault.setAccess(vault.managedIdentity.clientId, true);
    }
    const warnings = logs.filter(({ level }) => level === 'warning');
    expect(warnings.map(({ event }) => event.reason)).toContain('HTTP 403 Forbidden');
    for (const { event } of warnings) expect(JSON.stringify(event)).not.toMatch(/bearer|eyJ/i);

    now += 30_000;
    expect(await cut.sealer.seal(token, binding)).toMatch(/^s1\./);
    expect(await cut.sealer.open(sealed, binding)).toBe(token);
  });

  it('refuses a data key row that names another vault, without sending that vault anything', async () => {
    vault.createKey(keyName);
    const attacker = await startKeyVaultEmulator({ tlsDir: path.dirname(inject('emulatorCaCertPath')) });
    try {
      const foreignKek = attacker.createKey(keyName);
      const id = generationIdOf(foreignKek);
      await instance().sealer.seal(token, binding); // creates the table
      await table.createEntity({
        partitionKey: 'dek',
        rowKey: id,
        kekId: foreignKek,
        wrappedKey: randomBytes(256).toString('base64url'),
        algorithm: 'RSA-OAEP-256',
        createdAt: new Date().toISOString(),
      });
      const forged = `s1.${id}.${randomBytes(60).toString('base64url')}`;
      expect(await instance().sealer.open(forged, binding)).toBeUndefined();
      expect(attacker.stats()).toMatchObject({ challenge: 0, getKey: 0, unwrapKey: 0 });
      expect(
        logs.some(({ event }) => event.event === 'token_sealing_key_unavailable' && event.generation === id),
      ).toBe(true);
    } finally {
      await attacker.close();
    }
  });

  it('answers undefined for a generation that does not exist, and for the development key’s values', async () => {
    vault.createKey(keyName);
    const { sealer } = instance();
    await sealer.seal(token, binding);
    expect(
      await sealer.open(`s1.AAAAAAAAAAA.${randomBytes(60).toString('base64url')}`, binding),
    ).toBeUndefined();
    expect(await sealer.open(`s1.dev.${randomBytes(60).toString('base64url')}`, binding)).toBeUndefined();
  });
});
