import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { DefaultAzureCredential } from '@azure/identity';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningKeyVaultEmulator } from '../../../../dev/keyvault/index.js';
import type { Logger } from '../../../../src/log.js';
import { TokenSealingUnavailableError } from '../../../../src/shared/errors.js';
import {
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
let logs: { level: string; event: Record<string, unknown> }[];
const log: Logger = (level, event) => logs.push({ level, event });

beforeEach(() => {
  const suffix = randomBytes(4).toString('hex');
  keyName = `sealing-${suffix}`;
  logs = [];
});

/** One instance of the service: its own credential, clients and caches, sharing only the vault. */
function instance(options: Partial<KeyVaultKeyRingOptions> = {}) {
  const ring = new KeyVaultKeyRing({
    keyUrl: vault.keyUrl(keyName),
    credential: new DefaultAzureCredential(),
    log,
    ...options,
  });
  return { ring, sealer: new AesGcmTokenSealer(ring) };
}

/** The key version a versioned key identifier ends with: the generation id sealed values carry. */
const generationIdOf = (versionedKeyId: string) => versionedKeyId.split('/').at(-1)!;

describe('KeyVaultKeyRing: data keys derived inside Key Vault, through the real Key Vault SDK and the emulator', () => {
  it('lets instances starting together agree on one data key, logging the same fingerprint and never the key', async () => {
    const kekId = vault.createKey(keyName);
    const instances = [instance(), instance(), instance()];
    const sealed = await Promise.all(instances.map(({ sealer }) => sealer.seal(token, binding)));

    for (const value of sealed) {
      expect(value.startsWith(`s1.${generationIdOf(kekId)}.`)).toBe(true);
      for (const { sealer } of instances) expect(await sealer.open(value, binding)).toBe(token);
    }
    const adopted = logs.filter(({ event }) => event.event === 'token_sealing_key_adopted');
    expect(adopted).toHaveLength(3);
    const fingerprints = new Set(adopted.map(({ event }) => event.fingerprint));
    expect(fingerprints.size).toBe(1);
    expect([...fingerprints][0]).toMatch(/^[0-9a-f]{16}$/);
    expect(adopted[0]!.event.generation).toBe(generationIdOf(kekId));
  });

  it('lets a later instance open what an earlier one sealed, deriving the data key once', async () => {
    vault.createKey(keyName);
    const sealed = await instance().sealer.seal(token, binding);

    const later = instance();
    const before = vault.stats();
    for (let i = 0; i < 20; i++) expect(await later.sealer.open(sealed, binding)).toBe(token);
    expect(await later.sealer.seal(token, binding)).toMatch(/^s1\./);
    const after = vault.stats();
    expect(after.sign - before.sign).toBe(1);
  });

  it('derives nothing from a key whose key_ops leave out sign: sharing stays off', async () => {
    vault.createKey(keyName, ['wrapKey', 'unwrapKey']);
    await expect(instance().sealer.seal(token, binding)).rejects.toBeInstanceOf(TokenSealingUnavailableError);
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

    // After the pause the vault is asked again in the background; requests go without sharing until it answers.
    now += 30_000;
    await expect
      .poll(() => cut.sealer.seal(token, binding).catch((error: Error) => error.name))
      .toMatch(/^s1\./);
    expect(await cut.sealer.open(sealed, binding)).toBe(token);
  });

  it('keeps a hanging vault inside the request budget: the first request waits maxRequestWaitMs at most, later ones not at all (issue 19, point 7)', async () => {
    // A vault that accepts connections and never answers, not even the TLS handshake.
    const sockets: Socket[] = [];
    const hanging = createServer((socket) => sockets.push(socket));
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    const { port } = hanging.address() as AddressInfo;
    let now = Date.now();
    const { sealer } = instance({
      keyUrl: `https://127.0.0.1:${port}/keys/${keyName}`,
      clock: () => now,
      maxRequestWaitMs: 300,
      operationTimeoutMs: 1_000,
      retryAfterFailureMs: 30_000,
    });
    try {
      let started = performance.now();
      await expect(sealer.seal(token, binding)).rejects.toBeInstanceOf(TokenSealingUnavailableError);
      const firstWait = performance.now() - started;
      expect(firstWait).toBeLessThan(1_000);
      // The resolution goes on in the background until its own budget ends, then counts as a failure.
      await expect
        .poll(() => logs.some(({ event }) => event.event === 'token_sealing_key_unavailable'))
        .toBe(true);
      const connections = sockets.length;

      now += 30_000;
      started = performance.now();
      await expect(sealer.seal(token, binding)).rejects.toBeInstanceOf(TokenSealingUnavailableError);
      const laterWait = performance.now() - started;
      expect(laterWait).toBeLessThan(100);
      // It did ask again, in the background.
      await expect.poll(() => sockets.length).toBeGreaterThan(connections);
      expect(
        await sealer.open(`s1.${'a'.repeat(32)}.${randomBytes(60).toString('base64url')}`, binding),
      ).toBeUndefined();
    } finally {
      for (const socket of sockets) socket.destroy();
      hanging.close();
    }
  });

  it('asks the vault nothing for a sealed value whose generation is not a key version', async () => {
    vault.createKey(keyName);
    const { sealer } = instance();
    await sealer.seal(token, binding);
    const before = vault.stats();
    for (const id of ['AAAAAAAAAAA', 'dev', '0123456789ABCDEF0123456789ABCDEF', `${'0'.repeat(31)}/`]) {
      expect(await sealer.open(`s1.${id}.${randomBytes(60).toString('base64url')}`, binding)).toBeUndefined();
    }
    expect(vault.stats()).toEqual(before);
  });

  it('answers undefined for a generation that does not exist, and for the development key’s values', async () => {
    vault.createKey(keyName);
    const { sealer } = instance();
    await sealer.seal(token, binding);
    expect(
      await sealer.open(`s1.${'0'.repeat(32)}.${randomBytes(60).toString('base64url')}`, binding),
    ).toBeUndefined();
    expect(await sealer.open(`s1.dev.${randomBytes(60).toString('base64url')}`, binding)).toBeUndefined();
  });
});
