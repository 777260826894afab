import { describe, expect, it } from 'vitest';
import { compareText } from './compare.js';

describe('compareText', () => {
  it('orders by code units, as Go compares strings (upper case before lower, no locale)', () => {
    const xs = ['b', 'a', 'B', '10.0.0.9', '10.0.0.10', 'a-b', 'a_b', 'ab', ''];
    expect([...xs].sort(compareText)).toEqual([
      '',
      '10.0.0.10',
      '10.0.0.9',
      'B',
      'a',
      'a-b',
      'a_b',
      'ab',
      'b',
    ]);
  });

  it('is zero only for equal strings', () => {
    expect(compareText('x', 'x')).toBe(0);
    expect(compareText('x', 'X')).toBeGreaterThan(0);
    expect(compareText('X', 'x')).toBeLessThan(0);
  });
});
