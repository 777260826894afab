import { describe, expect, it } from 'vitest';
import { generateName, normalizeName } from './names.js';

describe('names', () => {
  it('accepts docker names and strips a leading slash', () => {
    expect(normalizeName('/web_1.a-b')).toBe('web_1.a-b');
    for (const bad of ['a', '_x', 'a b', 'x/y', '', '/'])
      expect(() => normalizeName(bad), bad).toThrow(/name/);
  });
  it('generates names that are free', () => {
    const taken = new Set<string>();
    let seed = 0;
    const random = () => {
      seed = (seed * 9301 + 49297) % 233280;
      return seed / 233280;
    };
    for (let i = 0; i < 2000; i++) {
      const n = generateName((x) => taken.has(x), random);
      expect(taken.has(n)).toBe(false);
      expect(normalizeName(n)).toBe(n);
      taken.add(n);
    }
  });
});
