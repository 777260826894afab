// Variable substitution as compose does it, and .env files (a bad line is an error naming it).
import { describe, expect, it } from 'vitest';
import { InterpolationError, interpolate, parseDotEnv } from './interpolate.js';

describe('interpolate', () => {
  const vars = { SET: 'v', EMPTY: '' };
  it.each([
    ['$SET and ${SET}', 'v and v'],
    ['$$SET is literal', '$SET is literal'],
    ['${UNSET}', ''],
    ['${EMPTY:-d} ${EMPTY-d} ${UNSET-d}', 'd  d'],
    ['${EMPTY:+alt}|${EMPTY+alt}|${SET:+alt}', '|alt|alt'],
    ['${UNSET:-${SET}x}', 'vx'],
    ['cost: $5', 'cost: $5'],
  ])('%s → %s', (text, want) => {
    expect(interpolate(text, vars)).toBe(want);
  });

  it('required variables and bad syntax are errors that say which', () => {
    expect(() => interpolate('${EMPTY:?needed}', vars)).toThrow(
      'required variable EMPTY is missing or empty: needed',
    );
    expect(interpolate('${EMPTY?needed}', vars)).toBe('');
    expect(() => interpolate('${UNSET?}', vars)).toThrow(/^required variable UNSET is missing$/);
    expect(() => interpolate('${SET', vars)).toThrow(InterpolationError);
    expect(() => interpolate('${1X}', vars)).toThrow(/invalid interpolation format/);
  });
});

describe('parseDotEnv', () => {
  it('KEY=VALUE lines, comments, quotes, export', () => {
    expect(parseDotEnv('# c\nA=1\n\nexport B="two words"\nC=\'x\'\nD\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x',
      D: '',
    });
  });
  it('a line that is no variable is an error naming the file and line', () => {
    expect(() => parseDotEnv('A=1\n1BAD=2\n', '/srv/.env')).toThrow(
      '/srv/.env:2: "1BAD" is not a variable name',
    );
  });
});
