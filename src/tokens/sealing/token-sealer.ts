import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SEALING_KEY_ID, type SealingKeyRing } from './key-ring.js';

/**
 * Seals a token for keeping outside the process (a Table property) so that only this service can open it, and
 * only for the user it was sealed for.
 */
export interface TokenSealer {
  /**
   * The sealed form of `plaintext`, bound to `binding` (see sealingBinding). Rejects with
   * TokenSealingUnavailableError when the key source cannot be reached: keep the token in memory only then.
   */
  seal(plaintext: string, binding: string): Promise<string>;
  /**
   * The plaintext, or undefined when the value is malformed, names a key that is unknown, retired or unreachable,
   * was sealed for another binding, or was altered: the caller treats all of these as "no reusable token".
   */
  open(sealed: string, binding: string): Promise<string | undefined>;
}

/** The binding of a user's sealed token: what makes a value copied into another user's row fail to open. */
export function sealingBinding(user: {
  issuer: string;
  userId: string;
  communicationUserId: string;
}): string {
  // JSON keeps the parts apart: no choice of issuer and user id can produce another user's binding.
  return JSON.stringify([user.issuer, user.userId, user.communicationUserId]);
}

/** Format version: the first field, so a later format can be told apart without trying keys. */
const FORMAT = 's1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';

/**
 * AES-256-GCM with a random 96-bit nonce per value. Sealed form: `s1.<key id>.<base64url(nonce | ciphertext | tag)>`.
 * The additional authenticated data is the header (`s1.<key id>`) and the binding, so neither the key id nor the
 * owner can be swapped without the tag failing. Random nonces are safe for far more than 2^32 values per key
 * (NIST SP 800-38D, 8.3), and keys rotate long before that (docs/token-sealing.md).
 */
export class AesGcmTokenSealer implements TokenSealer {
  constructor(private readonly keys: SealingKeyRing) {}

  async seal(plaintext: string, binding: string): Promise<string> {
    const { id, key } = await this.keys.current();
    const header = `${FORMAT}.${id}`;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(header, binding));
    const body = Buffer.concat([
      nonce,
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${header}.${body.toString('base64url')}`;
  }

  async open(sealed: string, binding: string): Promise<string | undefined> {
    const parts = sealed.split('.');
    if (parts.length !== 3) return undefined;
    const [format, id, encoded] = parts as [string, string, string];
    if (format !== FORMAT || !SEALING_KEY_ID.test(id) || !/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
    const body = Buffer.from(encoded, 'base64url');
    if (body.length < NONCE_BYTES + TAG_BYTES) return undefined;
    const found = await this.keys.find(id);
    if (!found) return undefined;
    try {
      const decipher = createDecipheriv(CIPHER, found.key, body.subarray(0, NONCE_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(additionalData(`${format}.${id}`, binding));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plaintext.toString('utf8');
    } catch {
      // Authentication failed: altered, another user's, or sealed under another key with the same id.
      return undefined;
    }
  }
}

function additionalData(header: string, binding: string): Buffer {
  // The header has no newline (checked above), so header and binding cannot run into each other.
  return Buffer.from(`${header}\n${binding}`, 'utf8');
}
