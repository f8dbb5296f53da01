import { createSecretKey } from 'node:crypto';
import { StaticKeyRing } from './key-ring.js';

/**
 * The built-in development sealing key. PUBLIC BY DESIGN, like Azurite's account key: it is in this repository, so
 * it protects nothing. It exists so that a local cluster sharing one Azurite shares token reuse with zero settings;
 * createTokenSealer uses it only when the identity store is in memory or on a loopback endpoint.
 */
const DEVELOPMENT_KEY_BASE64 = 'CP1Cwz2j7I7yeUKyyvc7z1RC1zPnnYj+RgdLvuWHhkY=';

/** The id sealed values carry; it says at a glance that a value was sealed with the public key. */
export const DEVELOPMENT_KEY_ID = 'dev';

export function developmentKeyRing(): StaticKeyRing {
  return new StaticKeyRing([
    { id: DEVELOPMENT_KEY_ID, key: createSecretKey(Buffer.from(DEVELOPMENT_KEY_BASE64, 'base64')) },
  ]);
}
