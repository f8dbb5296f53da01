import { randomBytes } from 'node:crypto';
import { TableServiceClient } from '@azure/data-tables';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RunningKeyVaultEmulator } from '../../../../dev/keyvault/index.js';
import type { Logger } from '../../../../src/log.js';
import { loadSettings, SettingsError } from '../../../../src/settings.js';
import { DEVELOPMENT_ACCOUNT } from '../../../../src/tokens/sealing/development-key.js';
import { createTokenSealer, sealingBinding } from '../../../../src/tokens/sealing/index.js';
import { useKeyVaultEmulator } from '../../../support/key-vault.js';

const base = {
  COMMUNICATION_SERVICES_CONNECTION_STRING:
    'endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0',
  AUTH_MODE: 'anonymous',
};
const binding = sealingBinding({
  issuer: 'https://issuer.example',
  userId: 'u',
  communicationUserId: '8:acs:r_u',
});
const userAssignedClientId = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
/** Azurite's published account and key (public, like the development sealing key). */
const azuriteAccount = `DefaultEndpointsProtocol=http;AccountName=${DEVELOPMENT_ACCOUNT.name};AccountKey=${DEVELOPMENT_ACCOUNT.key}`;

let logs: { level: string; event: Record<string, unknown> }[];
const log: Logger = (level, event) => logs.push({ level, event });
beforeEach(() => {
  logs = [];
});

const sealerFor = (env: Record<string, string>) => createTokenSealer(loadSettings({ ...base, ...env }), log);

describe('createTokenSealer decides whether and how reusable tokens are shared', () => {
  it('shares nothing when TOKEN_REUSE=false, whatever else is set', () => {
    expect(sealerFor({ TOKEN_REUSE: 'false' })).toBeUndefined();
    expect(
      sealerFor({
        TOKEN_REUSE: 'false',
        IDENTITY_STORE_CONNECTION_STRING: inject('azuriteConnectionString'),
        TOKEN_SEALING_KEY_URL: 'https://contoso.vault.azure.net/keys/sealing',
      }),
    ).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it.each([
    ['the memory store', {}],
    ['UseDevelopmentStorage=true', { IDENTITY_STORE_CONNECTION_STRING: 'UseDevelopmentStorage=true' }],
    [
      "Azurite's well-known account on a loopback address",
      {
        IDENTITY_STORE_CONNECTION_STRING: `${azuriteAccount};TableEndpoint=http://127.0.0.1:10002/devstoreaccount1`,
      },
    ],
  ])('uses the public development key with %s, and says so', async (_, env) => {
    const sealer = sealerFor(env);
    expect(sealer).toBeDefined();
    const sealed = await sealer!.seal('token', binding);
    expect(sealed).toMatch(/^s1\.dev\./);
    expect(await sealerFor(env)!.open(sealed, binding)).toBe('token');
    expect(logs.map(({ level, event }) => [level, event.event])).toContainEqual([
      'information',
      'token_sealing_development_key',
    ]);
  });

  it.each([
    ['a storage account endpoint', { IDENTITY_STORE_ENDPOINT: 'https://account.table.core.windows.net' }],
    [
      'a storage account connection string',
      {
        IDENTITY_STORE_CONNECTION_STRING:
          'DefaultEndpointsProtocol=https;AccountName=account;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net',
      },
    ],
    // Issue 19, point 2: loopback names that reach real accounts (a tunnel, a TLS sidecar) or prove nothing.
    [
      'a real account through a loopback tunnel (TableEndpoint=https://localhost:10443/prodacct)',
      {
        IDENTITY_STORE_CONNECTION_STRING:
          'DefaultEndpointsProtocol=https;AccountName=prodacct;AccountKey=c2VjcmV0;TableEndpoint=https://localhost:10443/prodacct',
      },
    ],
    [
      'a real account with EndpointSuffix=localhost',
      {
        IDENTITY_STORE_CONNECTION_STRING:
          'DefaultEndpointsProtocol=https;AccountName=prodacct;AccountKey=c2VjcmV0;EndpointSuffix=localhost',
      },
    ],
    ['a managed-identity endpoint on 127.0.0.2', { IDENTITY_STORE_ENDPOINT: 'https://127.0.0.2:8443' }],
    [
      'a managed-identity endpoint shaped like Azurite',
      { IDENTITY_STORE_ENDPOINT: 'http://127.0.0.1:10002/devstoreaccount1' },
    ],
    [
      'a SAS connection string to 127.0.0.1',
      {
        IDENTITY_STORE_CONNECTION_STRING:
          'TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;SharedAccessSignature=sv=2020-08-04&ss=t&sig=c2VjcmV0',
      },
    ],
    [
      "Azurite's account name with another key on loopback",
      {
        IDENTITY_STORE_CONNECTION_STRING:
          'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1',
      },
    ],
    [
      "Azurite's well-known account on a host that is not loopback",
      {
        IDENTITY_STORE_CONNECTION_STRING: `${azuriteAccount};TableEndpoint=https://azurite.example/devstoreaccount1`,
      },
    ],
  ])('keeps sharing off with %s and no key source, with a warning naming the setting', (_, env) => {
    expect(sealerFor(env)).toBeUndefined();
    const warning = logs.find(({ level }) => level === 'warning');
    expect(warning?.event).toMatchObject({ event: 'token_sealing_off' });
    expect(String(warning?.event.message)).toContain('TOKEN_SEALING_KEY_URL');
    expect(JSON.stringify(logs)).not.toContain('c2VjcmV0');
  });
});

describe('createTokenSealer with TOKEN_SEALING_KEY_URL, against the Key Vault emulator and Azurite', () => {
  const vaultOf = useKeyVaultEmulator({ userAssignedClientIds: [userAssignedClientId] });
  let vault: RunningKeyVaultEmulator;
  beforeAll(() => {
    vault = vaultOf();
    // Only the user-assigned identity holds the role, as in Azure: the system-assigned one would be refused.
    vault.setAccess(vault.managedIdentity.clientId, false);
  });

  it('seals with Key Vault as the identity AZURE_CLIENT_ID names, storing no key anywhere', async () => {
    const keyName = `factory-${randomBytes(4).toString('hex')}`;
    const kekId = vault.createKey(keyName);
    const tableName = `Factory${randomBytes(4).toString('hex')}`;
    const env = {
      IDENTITY_STORE_CONNECTION_STRING: inject('azuriteConnectionString'),
      IDENTITY_TABLE_NAME: tableName,
      TOKEN_SEALING_KEY_URL: vault.keyUrl(keyName),
      AZURE_CLIENT_ID: userAssignedClientId,
    };
    const sealed = await sealerFor(env)!.seal('token', binding);
    // Key Vault wins over the development key even though the store is local.
    expect(sealed.startsWith(`s1.${kekId.split('/').at(-1)}.`)).toBe(true);
    expect(await sealerFor(env)!.open(sealed, binding)).toBe('token');

    const tables = [];
    for await (const { name } of TableServiceClient.fromConnectionString(inject('azuriteConnectionString'), {
      allowInsecureConnection: true,
    }).listTables())
      if (name?.startsWith(tableName)) tables.push(name);
    expect(tables).toEqual([]);
    expect(logs.map(({ event }) => event.event)).toContain('token_sealing_key_vault');
  });
});

describe('TOKEN_SEALING_KEY_URL', () => {
  const table = { IDENTITY_STORE_ENDPOINT: 'https://account.table.core.windows.net' };
  const errorFor = (value: string, env: Record<string, string> = table) => {
    try {
      loadSettings({ ...base, ...env, TOKEN_SEALING_KEY_URL: value });
    } catch (error) {
      if (error instanceof SettingsError) return error.message;
      throw error;
    }
    return undefined;
  };

  it('accepts a Key Vault key identifier, with or without a version, and hands out the client id', () => {
    expect(errorFor('https://contoso.vault.azure.net/keys/token-sealing')).toBeUndefined();
    expect(
      errorFor('https://contoso.vault.azure.net/keys/token-sealing/0123456789abcdef0123456789abcdef'),
    ).toBe(undefined);
    const settings = loadSettings({
      ...base,
      ...table,
      AZURE_CLIENT_ID: userAssignedClientId,
      TOKEN_SEALING_KEY_URL: 'https://contoso.vault.azure.net/keys/token-sealing',
    });
    expect(settings.tokens.reuse.sealingKey).toEqual({
      keyUrl: 'https://contoso.vault.azure.net/keys/token-sealing',
      clientId: userAssignedClientId,
    });
  });

  it.each([
    'http://contoso.vault.azure.net/keys/token-sealing',
    'http://127.0.0.1:8443/keys/token-sealing',
    'https://contoso.vault.azure.net/secrets/token-sealing',
    'https://contoso.vault.azure.net/keys/',
    'https://contoso.vault.azure.net/keys/a/b/c',
    'https://contoso.vault.azure.net/keys/token-sealing?x=1',
    'not a url',
  ])('refuses %s, naming the setting but not the value', (value) => {
    const message = errorFor(value);
    expect(message).toMatch(/TOKEN_SEALING_KEY_URL must be a Key Vault key identifier/);
    expect(message).not.toContain(value);
  });

  it('needs the table store, where the wrapped keys are kept', () => {
    expect(errorFor('https://contoso.vault.azure.net/keys/token-sealing', {})).toMatch(
      /TOKEN_SEALING_KEY_URL needs the table identity store/,
    );
  });
});
