import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  privateEncrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';

export type WrapAlgorithm = 'RSA-OAEP' | 'RSA-OAEP-256';
export const wrapAlgorithms: readonly WrapAlgorithm[] = ['RSA-OAEP', 'RSA-OAEP-256'];

/** The RSASSA-PKCS1-v1_5 signature algorithms (JsonWebKeySignatureAlgorithm), each with its digest's length. */
export type SignAlgorithm = 'RS256' | 'RS384' | 'RS512';
export const signAlgorithms: readonly SignAlgorithm[] = ['RS256', 'RS384', 'RS512'];

/** The JSON web key operations a key version may permit (key_ops); Key Vault refuses the others on that key. */
export type KeyOperation = 'sign' | 'verify' | 'wrapKey' | 'unwrapKey';

/** What a key created here permits unless told otherwise: what Bicep's keyOps gives the sealing key. */
export const sealingKeyOperations: readonly KeyOperation[] = ['sign'];

export interface KeyVersion {
  name: string;
  version: string;
  enabled: boolean;
  created: number;
  updated: number;
  operations: readonly KeyOperation[];
  privateKey: KeyObject;
}

/** RSA keys held in memory, by name and version; the newest version of a name is its current one. */
export class KeyStore {
  readonly #keys = new Map<string, KeyVersion[]>();

  constructor(private readonly clock: () => number) {}

  /** A new version of `name` (creating the key if needed); it becomes the current version. */
  create(
    name: string,
    operations: readonly KeyOperation[] = sealingKeyOperations,
    sizeBits = 2048,
  ): KeyVersion {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: sizeBits });
    const now = Math.floor(this.clock() / 1000);
    // Real versions are 32 lowercase hex characters.
    const entry = {
      name,
      version: randomBytes(16).toString('hex'),
      enabled: true,
      created: now,
      updated: now,
      operations,
      privateKey,
    };
    this.#keys.set(name, [...(this.#keys.get(name) ?? []), entry]);
    return entry;
  }

  /** The version asked for; an empty version means the current one. */
  find(name: string, version: string): KeyVersion | undefined {
    const versions = this.#keys.get(name) ?? [];
    return version === '' ? versions.at(-1) : versions.find((entry) => entry.version === version);
  }

  setEnabled(name: string, version: string, enabled: boolean): void {
    const entry = this.find(name, version);
    if (!entry) throw new Error(`No key ${name}/${version}`);
    entry.enabled = enabled;
    entry.updated = Math.floor(this.clock() / 1000);
  }
}

/** The key bundle Key Vault answers for a key: public JWK and attributes, never the private half. */
export function keyBundle(entry: KeyVersion, kid: string): object {
  const jwk = createPublicKey(entry.privateKey).export({ format: 'jwk' });
  return {
    key: { kid, kty: 'RSA', key_ops: entry.operations, n: jwk.n, e: jwk.e },
    attributes: {
      enabled: entry.enabled,
      created: entry.created,
      updated: entry.updated,
      recoveryLevel: 'Recoverable',
      recoverableDays: 90,
      exportable: false,
    },
  };
}

const hashOf = (algorithm: WrapAlgorithm) => (algorithm === 'RSA-OAEP-256' ? 'sha256' : 'sha1');

export function wrap(entry: KeyVersion, algorithm: WrapAlgorithm, value: Buffer): Buffer {
  return publicEncrypt(
    { key: entry.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashOf(algorithm) },
    value,
  );
}

/** The unwrapped key, or undefined when `value` was not wrapped by this key version with this algorithm. */
export function unwrap(entry: KeyVersion, algorithm: WrapAlgorithm, value: Buffer): Buffer | undefined {
  try {
    return privateDecrypt(
      { key: entry.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashOf(algorithm) },
      value,
    );
  } catch {
    return undefined;
  }
}

/** DER DigestInfo prefixes of RFC 8017, 9.2 (note 1): what PKCS#1 v1.5 signs in front of the digest. */
const digestInfoPrefixes: Record<SignAlgorithm, { prefix: Buffer; digestBytes: number }> = {
  RS256: { prefix: Buffer.from('3031300d060960864801650304020105000420', 'hex'), digestBytes: 32 },
  RS384: { prefix: Buffer.from('3041300d060960864801650304020205000430', 'hex'), digestBytes: 48 },
  RS512: { prefix: Buffer.from('3051300d060960864801650304020305000440', 'hex'), digestBytes: 64 },
};

/**
 * RSASSA-PKCS1-v1_5 over a digest the caller computed, as Key Vault's sign does (it takes a digest, not a message);
 * undefined when the digest's length does not fit the algorithm. Deterministic: one key, one digest, one signature.
 */
export function sign(entry: KeyVersion, algorithm: SignAlgorithm, digest: Buffer): Buffer | undefined {
  const { prefix, digestBytes } = digestInfoPrefixes[algorithm];
  if (digest.length !== digestBytes) return undefined;
  // privateEncrypt with PKCS#1 v1.5 padding is the block type 1 encoding of RFC 8017, 9.2: a signature.
  return privateEncrypt(
    { key: entry.privateKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.concat([prefix, digest]),
  );
}
