import { describe, expect, it } from 'vitest';
import { queryBool, queryInt, queryTail, queryTime } from './query.js';

const q = (s: string) => new URLSearchParams(s);

describe('typed query parameters', () => {
  it('queryTime: unix seconds (fractions too) or RFC 3339, in seconds; absent and empty are unset', () => {
    expect(queryTime(q('since=0'), 'since')).toBe(0);
    expect(queryTime(q('since=1700000000'), 'since')).toBe(1700000000);
    expect(queryTime(q('since=1700000000.5'), 'since')).toBe(1700000000.5);
    expect(queryTime(q('until=2024-01-02T03:04:05Z'), 'until')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
    for (const s of ['', 'since=']) expect(queryTime(q(s), 'since')).toBeUndefined();
  });

  it('queryTime: anything else is a 400 naming the parameter and the value', () => {
    for (const v of ['0x10', '10m', '-5', 'yesterday', '2024-13-45'])
      expect(() => queryTime(q(`until=${v}`), 'until')).toThrow(
        `invalid until "${v}": use unix seconds or RFC3339`,
      );
  });

  it('queryTail: a number of lines, or undefined for all (absent, "all", negative)', () => {
    expect(queryTail(q('tail=5'))).toBe(5);
    expect(queryTail(q('tail=0'))).toBe(0);
    for (const s of ['', 'tail=', 'tail=all', 'tail=-1']) expect(queryTail(q(s))).toBeUndefined();
    for (const v of ['1e2', '2.5', 'ten'])
      expect(() => queryTail(q(`tail=${v}`))).toThrow(`invalid tail "${v}"`);
  });

  it('queryBool and queryInt keep their rules', () => {
    expect(queryBool(q('all=1'), 'all')).toBe(true);
    expect(queryBool(q(''), 'all', true)).toBe(true);
    expect(() => queryBool(q('all=maybe'), 'all')).toThrow('invalid all "maybe"');
    expect(queryInt(q('n=-3'), 'n')).toBe(-3);
    expect(() => queryInt(q('n=3.5'), 'n')).toThrow('invalid n "3.5": must be an integer');
  });
});
