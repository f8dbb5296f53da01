import {
  constants,
  createHash,
  createPublicKey,
  createSecretKey,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { DefaultAzureCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RunningKeyVaultEmulator } from '../../dev/keyvault/index.js';
import type { Logger } from '../../src/log.js';
import { loadSettings } from '../../src/settings.js';
import { tableClientFromConnectionString } from '../../src/shared/table-client.js';
import { createTokenSealer, sealingBinding } from '../../src/tokens/sealing/index.js';
import { StaticKeyRing } from '../../src/tokens/sealing/key-ring.js';
import { AesGcmTokenSealer } from '../../src/tokens/sealing/token-sealer.js';
import { useKeyVaultEmulator } from '../support/key-vault.js';
import { Ledger } from './harness.js';

/**
 * Issue 19, point 1: someone who can write the storage account and read the vault key's public half (Key Vault
 * Reader is enough) plants a data key of their own choosing, as the outside review did: by replacing the current
 * generation's row in `<table>Keys`, and by pre-creating the row of the generation a key rotation brings. Whatever
 * they write, a fresh instance must seal only under a key they cannot know, and its sealed values must not open
 * under the key they planted.
 */
const ledger = new Ledger('sealing');
/** Sealed values the attacker tried to open with the key they planted, and how many opened. */
const attempts = { tried: 0, opened: 0 };

afterAll(() => {
  ledger.measure(
    `sealed tokens opened with a planted data key (row replaced, next rotation's row pre-created), of ${attempts.tried} tried`,
    attempts.opened,
  );
  const figures = ledger.finish();
  expect(figures.leaks, figures.leakKinds.join('\n')).toBe(0);
});

const vaultOf = useKeyVaultEmulator();
let vault: RunningKeyVaultEmulator;
beforeAll(() => {
  vault = vaultOf();
});

const binding = sealingBinding({
  issuer: 'https://issuer.example',
  userId: 'bob',
  communicationUserId: '8:acs:r_b',
});
const bobsToken = `eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.${randomBytes(200).toString('base64url')}`;

let keyName: string;
let tableName: string;
let logs: { level: string; event: Record<string, unknown> }[];
const log: Logger = (level, event) => logs.push({ level, event });

beforeEach(() => {
  const suffix = randomBytes(4).toString('hex');
  keyName = `planted-${suffix}`;
  tableName = `Planted${suffix}`;
  logs = [];
});

/** A new instance of the service (scale-out or restart): nothing in memory, only the vault and the storage. */
const freshInstance = () =>
  createTokenSealer(
    loadSettings({
      COMMUNICATION_SERVICES_CONNECTION_STRING:
        'endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0',
      AUTH_MODE: 'anonymous',
      IDENTITY_STORE_CONNECTION_STRING: inject('azuriteConnectionString'),
      IDENTITY_TABLE_NAME: tableName,
      TOKEN_SEALING_KEY_URL: vault.keyUrl(keyName),
    }),
    log,
  )!;

/**
 * The attacker's move: a data key of theirs, wrapped with the vault key's public half (read as a Key Vault Reader
 * reads it), written as the generation row of that key version, in the shape the wrapped-key table used.
 */
async function plantDataKey(versionedKeyId: string): Promise<Buffer> {
  const { key } = await new KeyClient(vault.vaultUrl, new DefaultAzureCredential(), {
    disableChallengeResourceVerification: true,
  }).getKey(keyName, { version: versionedKeyId.split('/').at(-1) });
  const publicKey = createPublicKey({
    key: { kty: 'RSA', n: b64url(key!.n!), e: b64url(key!.e!) },
    format: 'jwk',
  });
  const dataKey = randomBytes(32);
  const keysTable = tableClientFromConnectionString(inject('azuriteConnectionString'), `${tableName}Keys`);
  await keysTable.createTable();
  await keysTable.upsertEntity(
    {
      partitionKey: 'dek',
      rowKey: createHash('sha256').update(versionedKeyId).digest('base64url').slice(0, 11),
      kekId: versionedKeyId,
      wrappedKey: publicEncrypt(
        { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        dataKey,
      ).toString('base64url'),
      algorithm: 'RSA-OAEP-256',
      createdAt: new Date().toISOString(),
    },
    'Replace',
  );
  return dataKey;
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** What the attacker reads from bob's row: the sealed value, opened with the key they planted. */
async function attackerOpens(sealed: string, plantedKey: Buffer): Promise<string | undefined> {
  const id = sealed.split('.')[1]!;
  const opened = await new AesGcmTokenSealer(
    new StaticKeyRing([{ id, key: createSecretKey(plantedKey) }]),
  ).open(sealed, binding);
  attempts.tried++;
  if (opened !== undefined) attempts.opened++;
  return opened;
}

describe('a storage writer cannot plant the data key (issue 19, point 1)', () => {
  it('replacing the current generation: a fresh instance seals under a key the attacker does not know', async () => {
    const version = vault.createKey(keyName);
    const first = await freshInstance().seal(bobsToken, binding);

    const planted = await plantDataKey(version);
    const sealed = await freshInstance().seal(bobsToken, binding);

    expect(await attackerOpens(sealed, planted)).toBeUndefined();
    expect(await attackerOpens(first, planted)).toBeUndefined();
    // The service itself still opens what it sealed, before and after the planting, on any instance.
    expect(await freshInstance().open(sealed, binding)).toBe(bobsToken);
    expect(await freshInstance().open(first, binding)).toBe(bobsToken);
  });

  it('pre-creating the row of the next rotation: the new generation is not the attacker’s either', async () => {
    vault.createKey(keyName);
    const beforeRotation = await freshInstance().seal(bobsToken, binding);

    const rotated = vault.createKey(keyName);
    const planted = await plantDataKey(rotated);
    const sealed = await freshInstance().seal(bobsToken, binding);

    expect(sealed.split('.')[1]).not.toBe(beforeRotation.split('.')[1]);
    expect(await attackerOpens(sealed, planted)).toBeUndefined();
    expect(await freshInstance().open(sealed, binding)).toBe(bobsToken);
    expect(await freshInstance().open(beforeRotation, binding)).toBe(bobsToken);
  });
});
