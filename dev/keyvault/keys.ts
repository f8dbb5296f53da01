import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';

export type WrapAlgorithm = 'RSA-OAEP' | 'RSA-OAEP-256';
export const wrapAlgorithms: readonly WrapAlgorithm[] = ['RSA-OAEP', 'RSA-OAEP-256'];

/** The operations a key created here permits (key_ops); what Bicep's keyOps gives the sealing key. */
const keyOperations = ['wrapKey', 'unwrapKey'];

export interface KeyVersion {
  name: string;
  version: string;
  enabled: boolean;
  created: number;
  updated: number;
  privateKey: KeyObject;
}

/** RSA keys held in memory, by name and version; the newest version of a name is its current one. */
export class KeyStore {
  readonly #keys = new Map<string, KeyVersion[]>();

  constructor(private readonly clock: () => number) {}

  /** A new version of `name` (creating the key if needed); it becomes the current version. */
  create(name: string, sizeBits = 2048): KeyVersion {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: sizeBits });
    const now = Math.floor(this.clock() / 1000);
    // Real versions are 32 lowercase hex characters.
    const entry = {
      name,
      version: randomBytes(16).toString('hex'),
      enabled: true,
      created: now,
      updated: now,
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
    key: { kid, kty: 'RSA', key_ops: keyOperations, n: jwk.n, e: jwk.e },
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
