import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toTableKey } from '../../../../src/identities/table/table-keys.js';

/** Any UTF-16 code unit, lone surrogates included: JSON claims can carry them. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const anyString = fc.string({ unit: anyCodeUnit, maxLength: 600 });
const KEY_SAFE = /^(b[A-Za-z0-9_-]{0,400}|h[A-Za-z0-9_-]{43})$/;

describe('toTableKey', () => {
  it('turns any string into a short key made of URL-safe characters only', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        expect(toTableKey(value)).toMatch(KEY_SAFE);
      }),
    );
  });

  it('gives distinct strings distinct keys', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyString, { minLength: 2, maxLength: 20 }), (values) => {
        expect(new Set(values.map(toTableKey)).size).toBe(values.length);
      }),
    );
  });

  it('keeps apart strings that UTF-8 or truncation would merge', () => {
    const long = 'x'.repeat(5000);
    const pairs = [
      ['\ud800', '\ud801'],
      ['\ud800', '\ufffd'],
      [`${long}a`, `${long}b`],
      ['a', 'a\u0000'],
    ];
    for (const [a, b] of pairs) expect(toTableKey(a!)).not.toBe(toTableKey(b!));
  });

  it('keeps its format, so existing rows stay findable after an upgrade', () => {
    expect(toTableKey('https://login.microsoftonline.com/tenant/v2.0')).toBe(
      `b${Buffer.from('https://login.microsoftonline.com/tenant/v2.0').toString('base64url')}`,
    );
  });
});
