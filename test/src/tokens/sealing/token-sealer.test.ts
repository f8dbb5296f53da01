import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_KEY_ID, developmentKeyRing } from '../../../../src/tokens/sealing/development-key.js';
import { type SealingKey, StaticKeyRing } from '../../../../src/tokens/sealing/key-ring.js';
import { AesGcmTokenSealer, sealingBinding } from '../../../../src/tokens/sealing/token-sealer.js';

const key = (id: string): SealingKey => ({ id, key: createSecretKey(randomBytes(32)) });
const sealerWith = (...keys: [SealingKey, ...SealingKey[]]) => new AesGcmTokenSealer(new StaticKeyRing(keys));

const token = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"exp":1}').toString('base64url')}.${randomBytes(256).toString('base64url')}`;
const alice = sealingBinding({
  issuer: 'https://issuer.example',
  userId: 'alice',
  communicationUserId: '8:acs:r_a',
});
const bob = sealingBinding({
  issuer: 'https://issuer.example',
  userId: 'bob',
  communicationUserId: '8:acs:r_b',
});

/** Flips one bit of the decoded body at `index` (negative: from the end) and re-encodes. */
function flipBit(sealed: string, index: number): string {
  const [format, id, body] = sealed.split('.') as [string, string, string];
  const bytes = Buffer.from(body, 'base64url');
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] ?? 0) ^ 1;
  return `${format}.${id}.${bytes.toString('base64url')}`;
}

describe('AesGcmTokenSealer', () => {
  it('opens what it sealed, for the same binding', async () => {
    const sealer = sealerWith(key('k1'));
    const sealed = await sealer.seal(token, alice);
    expect(await sealer.open(sealed, alice)).toBe(token);
  });

  it('hides the token and names the key: s1.<key id>.<base64url>, compact', async () => {
    const sealed = await sealerWith(key('k1')).seal(token, alice);
    expect(sealed).toMatch(/^s1\.k1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(token.split('.')[2]!.slice(0, 16));
    // nonce (12) + tag (16) bytes on top of the token, base64url: 4/3 of that, no padding.
    expect(sealed.length).toBe('s1.k1.'.length + Math.ceil(((token.length + 28) * 4) / 3));
  });

  it('uses a fresh nonce each time: sealing twice gives different values', async () => {
    const sealer = sealerWith(key('k1'));
    const first = await sealer.seal(token, alice);
    const second = await sealer.seal(token, alice);
    expect(first).not.toBe(second);
    expect(first.split('.')[2]!.slice(0, 16)).not.toBe(second.split('.')[2]!.slice(0, 16));
  });

  it("does not open another user's sealed token (a value copied into another row)", async () => {
    const sealer = sealerWith(key('k1'));
    expect(await sealer.open(await sealer.seal(token, alice), bob)).toBeUndefined();
  });

  it('does not open for a binding differing only in where its parts split', async () => {
    const sealer = sealerWith(key('k1'));
    const split = (issuer: string, userId: string) =>
      sealingBinding({ issuer, userId, communicationUserId: 'c' });
    expect(await sealer.open(await sealer.seal(token, split('ab', 'c')), split('a', 'bc'))).toBeUndefined();
  });

  it('does not open a value altered anywhere: nonce, ciphertext, tag', async () => {
    const sealer = sealerWith(key('k1'));
    const sealed = await sealer.seal(token, alice);
    for (const index of [0, 11, 12, 40, -17, -1]) {
      expect(await sealer.open(flipBit(sealed, index), alice), `bit flipped at ${index}`).toBeUndefined();
    }
    expect(await sealer.open(sealed.slice(0, -4), alice)).toBeUndefined();
  });

  it('does not open a value whose key id was swapped for another known key', async () => {
    const sealer = sealerWith(key('k1'), key('k2'));
    const sealed = await sealer.seal(token, alice);
    expect(await sealer.open(sealed.replace('.k1.', '.k2.'), alice)).toBeUndefined();
  });

  it('answers undefined, never throws, for an unknown key id or a malformed value', async () => {
    const sealer = sealerWith(key('k1'));
    const sealed = await sealer.seal(token, alice);
    const malformed = [
      sealed.replace('.k1.', '.k9.'),
      sealed.replace('s1.', 's2.'),
      '',
      'plain-token',
      'a.b',
      's1.k1.',
      's1.k1.AAAA',
      's1.k!.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      `${sealed}.extra`,
      sealed.replace(/.$/, '='),
    ];
    for (const value of malformed)
      expect(await sealer.open(value, alice), value.slice(0, 20)).toBeUndefined();
  });

  it('rotates: seals with the newest key, still opens the older one, and stops once it is retired', async () => {
    const old = key('k1');
    const fresh = key('k2');
    const sealedBefore = await sealerWith(old).seal(token, alice);

    const rotated = sealerWith(fresh, old);
    expect(await rotated.seal(token, alice)).toMatch(/^s1\.k2\./);
    expect(await rotated.open(sealedBefore, alice)).toBe(token);

    const retired = sealerWith(fresh);
    expect(await retired.open(sealedBefore, alice)).toBeUndefined();
  });

  it('refuses key ids that would break the format and keys that are not 256-bit', () => {
    expect(() => new StaticKeyRing([key('has.dot')])).toThrow(/key id/);
    expect(() => new StaticKeyRing([{ id: 'k', key: createSecretKey(randomBytes(16)) }])).toThrow(/256-bit/);
  });
});

describe('the development key', () => {
  it('is the same in every process, so local instances open each other’s values, and says so in its id', async () => {
    const sealed = await new AesGcmTokenSealer(developmentKeyRing()).seal(token, alice);
    expect(sealed.startsWith(`s1.${DEVELOPMENT_KEY_ID}.`)).toBe(true);
    expect(await new AesGcmTokenSealer(developmentKeyRing()).open(sealed, alice)).toBe(token);
  });
});
