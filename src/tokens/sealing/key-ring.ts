import type { KeyObject } from 'node:crypto';

/** A 256-bit AES key and the short id a sealed value names it by. */
export interface SealingKey {
  /** Letters, digits, `-` and `_` only: it is written into the sealed form between dots. */
  readonly id: string;
  readonly key: KeyObject;
}

/** Where sealing keys come from: the key new values are sealed with, and any key by id for opening. */
export interface SealingKeyRing {
  /** The key to seal with now; rejects with TokenSealingUnavailableError when the key source cannot be reached. */
  current(): Promise<SealingKey>;
  /** The key a sealed value names; undefined when it is unknown, retired or cannot be reached (never rejects). */
  find(id: string): Promise<SealingKey | undefined>;
}

export const SEALING_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** A fixed set of keys held in memory: the first seals, all of them open. */
export class StaticKeyRing implements SealingKeyRing {
  readonly #keys: ReadonlyMap<string, SealingKey>;
  readonly #current: SealingKey;

  constructor(keys: readonly [SealingKey, ...SealingKey[]]) {
    for (const { id, key } of keys) {
      if (!SEALING_KEY_ID.test(id)) throw new Error('A sealing key id must be 1-32 letters, digits, - or _');
      if (key.type !== 'secret' || key.symmetricKeySize !== 32) {
        throw new Error('A sealing key must be a 256-bit secret key');
      }
    }
    this.#current = keys[0];
    this.#keys = new Map(keys.map((entry) => [entry.id, entry]));
  }

  async current(): Promise<SealingKey> {
    return this.#current;
  }

  async find(id: string): Promise<SealingKey | undefined> {
    return this.#keys.get(id);
  }
}
