import { describe, expect, it } from 'vitest';
import { LruMap } from '../../../src/shared/lru-map.js';

describe('LruMap', () => {
  it('drops the least recently used entry beyond maxEntries; get and set count as use', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([1, undefined, 3]);

    map.set('a', 10);
    map.set('d', 4);
    expect([map.get('a'), map.get('c'), map.get('d'), map.size]).toEqual([10, undefined, 4, 2]);
  });

  it('deletes entries one by one', () => {
    const map = new LruMap<string, number>(10);
    for (const [key, value] of Object.entries({ a: 1, b: 2, c: 3 })) map.set(key, value);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect([map.get('a'), map.get('b'), map.size]).toEqual([undefined, 2, 2]);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
    expect(() => new LruMap(1.5)).toThrow(RangeError);
  });
});
