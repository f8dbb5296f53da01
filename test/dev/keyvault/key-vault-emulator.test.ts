import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import https from 'node:https';
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningKeyVaultEmulator } from '../../../dev/keyvault/index.js';
import { useKeyVaultEmulator } from '../../support/key-vault.js';

const userAssignedClientId = '7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6';
// The emulator's host is an IP address, which no challenge resource can be a parent domain of (see
// src/tokens/sealing/key-vault-key-ring.ts); the SDK's own check is shown refusing it below.
const loopbackOptions = { disableChallengeResourceVerification: true };

const vaultOf = useKeyVaultEmulator({ userAssignedClientIds: [userAssignedClientId] });
let vault: RunningKeyVaultEmulator;
beforeAll(() => {
  vault = vaultOf();
});

/** Keys for the wrap tests permit wrapKey and unwrapKey; the sealing key (the default) permits sign only. */
const wrapping = ['wrapKey', 'unwrapKey'] as const;

const cryptoClient = (keyId: string, credential: TokenCredential = new DefaultAzureCredential()) =>
  new CryptographyClient(keyId, credential, loopbackOptions);

/** A request with any Host header (fetch refuses to set one); TLS still checks the certificate for localhost. */
function rawRequest(
  target: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      target,
      { method: init.method ?? 'GET', headers: init.headers, servername: 'localhost' },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('the Key Vault emulator, through the real @azure/keyvault-keys and DefaultAzureCredential', () => {
  it('wraps and unwraps with RSA-OAEP-256 after the challenge, asking the identity endpoint for Key Vault', async () => {
    const keyId = vault.createKey('round-trip', wrapping);
    const before = vault.stats();
    const client = cryptoClient(vault.keyUrl('round-trip'));
    const dataKey = randomBytes(32);
    const wrapped = await client.wrapKey('RSA-OAEP-256', dataKey);
    expect(Buffer.from(wrapped.result)).not.toEqual(dataKey);
    expect(wrapped.result).toHaveLength(256);
    expect(client.keyID).toBe(keyId);
    const unwrapped = await client.unwrapKey('RSA-OAEP-256', wrapped.result);
    expect(Buffer.from(unwrapped.result)).toEqual(dataKey);

    const after = vault.stats();
    // One challenge, one token from the identity endpoint, then getKey (the SDK fetches the key first), wrap, unwrap.
    expect(after.challenge - before.challenge).toBe(1);
    expect(after.managedIdentityToken - before.managedIdentityToken).toBe(1);
    expect(after.getKey - before.getKey).toBe(1);
    expect(after.wrapKey - before.wrapKey).toBe(1);
    expect(after.unwrapKey - before.unwrapKey).toBe(1);
  });

  it('keeps the SDK challenge check: without the loopback opt-out the SDK refuses the emulator', async () => {
    vault.createKey('strict', wrapping);
    const client = new CryptographyClient(vault.keyUrl('strict'), new DefaultAzureCredential());
    await expect(client.wrapKey('RSA-OAEP-256', randomBytes(32))).rejects.toThrow(
      /does not match the requested domain/,
    );
  });

  it('serves the newest version for a versionless id, and each version unwraps only what it wrapped', async () => {
    const first = vault.createKey('rotating', wrapping);
    const keys = new KeyClient(vault.vaultUrl, new DefaultAzureCredential(), loopbackOptions);
    expect((await keys.getKey('rotating')).id).toBe(first);
    const wrappedByFirst = await cryptoClient(first).wrapKey('RSA-OAEP-256', randomBytes(32));

    const second = vault.createKey('rotating', wrapping);
    const current = await keys.getKey('rotating');
    expect(current.id).toBe(second);
    expect(current.keyOperations).toEqual(['wrapKey', 'unwrapKey']);
    expect(current.properties).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable' });
    expect(current.key?.d).toBeUndefined();

    expect((await cryptoClient(first).unwrapKey('RSA-OAEP-256', wrappedByFirst.result)).result).toHaveLength(
      32,
    );
    await expect(cryptoClient(second).unwrapKey('RSA-OAEP-256', wrappedByFirst.result)).rejects.toMatchObject(
      {
        statusCode: 400,
        code: 'BadParameter',
      },
    );
  });

  it('refuses a disabled version with 403 KeyDisabled', async () => {
    const keyId = vault.createKey('disabled', wrapping);
    vault.setKeyEnabled(keyId, false);
    await expect(cryptoClient(keyId).wrapKey('RSA-OAEP-256', randomBytes(32))).rejects.toMatchObject({
      statusCode: 403,
      code: 'Forbidden',
    });
    vault.setKeyEnabled(keyId, true);
    expect((await cryptoClient(keyId).wrapKey('RSA-OAEP-256', randomBytes(32))).result).toHaveLength(256);
  });

  it('refuses an identity whose role was taken away with 403, and serves a user-assigned identity by client id', async () => {
    const keyId = vault.createKey('rbac', wrapping);
    const userAssigned = () => new ManagedIdentityCredential({ clientId: userAssignedClientId });
    expect(
      (await cryptoClient(keyId, userAssigned()).wrapKey('RSA-OAEP-256', randomBytes(32))).result,
    ).toHaveLength(256);
    vault.setAccess(userAssignedClientId, false);
    try {
      await expect(
        cryptoClient(keyId, userAssigned()).wrapKey('RSA-OAEP-256', randomBytes(32)),
      ).rejects.toMatchObject({ statusCode: 403 });
    } finally {
      vault.setAccess(userAssignedClientId, true);
    }
  });

  it('signs a digest with RS256 as RSASSA-PKCS1-v1_5: deterministic, and verifiable with the public key alone', async () => {
    const keyId = vault.createKey('signing');
    const digest = createHash('sha256').update('a fixed label').digest();
    const before = vault.stats();
    const first = await cryptoClient(keyId).sign('RS256', digest);
    const again = await cryptoClient(keyId).sign('RS256', digest);
    expect(first.keyID).toBe(keyId);
    expect(Buffer.from(again.result)).toEqual(Buffer.from(first.result));
    expect(vault.stats().sign - before.sign).toBe(2);

    const { key } = await new KeyClient(vault.vaultUrl, new DefaultAzureCredential(), loopbackOptions).getKey(
      'signing',
    );
    expect(key?.keyOps).toEqual(['sign']);
    const publicKey = createPublicKey({
      key: {
        kty: 'RSA',
        n: Buffer.from(key!.n!).toString('base64url'),
        e: Buffer.from(key!.e!).toString('base64url'),
      },
      format: 'jwk',
    });
    expect(verify('sha256', Buffer.from('a fixed label'), publicKey, first.result)).toBe(true);
    // Another version signs differently: the signature belongs to one key version.
    const other = await cryptoClient(vault.createKey('signing')).sign('RS256', digest);
    expect(Buffer.from(other.result)).not.toEqual(Buffer.from(first.result));
  });

  it('refuses what the key_ops leave out with 403 KeyOperationForbidden, and a digest of the wrong length with 400', async () => {
    const signing = vault.createKey('sign-only');
    const digest = createHash('sha256').update('x').digest();
    const raw = async (action: string, body: object) => {
      const { token } = (await new DefaultAzureCredential().getToken('https://vault.azure.net/.default'))!;
      const response = await fetch(`${signing}/${action}?api-version=7.4`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    expect(await raw('wrapkey', { alg: 'RSA-OAEP-256', value: digest.toString('base64url') })).toEqual({
      status: 403,
      body: {
        error: {
          code: 'Forbidden',
          message: 'Operation wrapKey is not permitted on this key.',
          innererror: { code: 'KeyOperationForbidden' },
        },
      },
    });
    expect(
      await raw('sign', { alg: 'RS256', value: digest.subarray(1).toString('base64url') }),
    ).toMatchObject({
      status: 400,
      body: { error: { code: 'BadParameter' } },
    });
    expect(await raw('sign', { alg: 'PS256', value: digest.toString('base64url') })).toMatchObject({
      status: 400,
      body: { error: { code: 'BadParameter' } },
    });
    const wrapOnly = vault.createKey('wrap-only', wrapping);
    await expect(cryptoClient(wrapOnly).sign('RS256', digest)).rejects.toThrow(/sign is not supported/);
  });

  it('answers 404 KeyNotFound for a key it does not have', async () => {
    await expect(
      cryptoClient(vault.keyUrl('absent')).wrapKey('RSA-OAEP-256', randomBytes(32)),
    ).rejects.toMatchObject({
      statusCode: 404,
      code: 'KeyNotFound',
    });
  });
});

describe('the Key Vault emulator on the wire', () => {
  it('challenges an unauthenticated request as Key Vault does', async () => {
    const keyId = vault.createKey('wire');
    const response = await fetch(`${keyId}?api-version=2025-07-01`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(
      /^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/,
    );
    expect(await response.json()).toEqual({ error: { code: 'Unauthorized', message: expect.any(String) } });
  });

  it('refuses a token for another audience and a garbage token', async () => {
    const keyId = vault.createKey('audience');
    const token = (await new DefaultAzureCredential().getToken('https://storage.azure.com/.default')).token;
    for (const authorization of [`Bearer ${token}`, 'Bearer not.a.token']) {
      const response = await fetch(`${keyId}?api-version=2025-07-01`, { headers: { authorization } });
      expect(response.status).toBe(401);
    }
    const good = (await new DefaultAzureCredential().getToken('https://vault.azure.net/.default')).token;
    expect(
      (await fetch(`${keyId}?api-version=2025-07-01`, { headers: { authorization: `Bearer ${good}` } }))
        .status,
    ).toBe(200);
  });

  it('answers 400 for a bad algorithm or value, and for a missing api-version', async () => {
    const keyId = vault.createKey('bad-input', wrapping);
    const token = (await new DefaultAzureCredential().getToken('https://vault.azure.net/.default')).token;
    const post = (body: string, query = '?api-version=2025-07-01') =>
      fetch(`${keyId}/wrapkey${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
    for (const body of [
      '{"alg":"RSA1_5","value":"AAAA"}',
      '{"alg":"RSA-OAEP-256","value":"not base64url!"}',
      'nonsense',
    ]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BadParameter');
    }
    expect((await post('{"alg":"RSA-OAEP-256","value":"AAAA"}', '')).status).toBe(400);
  });

  it('refuses a Host header that is not loopback with 421', async () => {
    const keyId = vault.createKey('rebinding');
    const response = await rawRequest(`${keyId}?api-version=2025-07-01`, {
      headers: { host: 'attacker.example' },
    });
    expect(response.status).toBe(421);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'MisdirectedRequest' } });
    expect(
      (await rawRequest(`${keyId}?api-version=2025-07-01`, { headers: { host: 'localhost' } })).status,
    ).toBe(401);
  });
});
