import { describe, expect, it } from 'vitest';
import { ellipsis, formatTable, runeCount } from './table.js';

describe('table', () => {
  it('counts code points as the docker CLI counts runes', () => {
    const samples = [
      '',
      'abc',
      'héllo',
      '漢字テスト',
      '\u{1F600}x\u{1F600}',
      '\uD83D',
      'a\uDE00b',
      '\u{1F600}\uD83D',
    ];
    for (const s of samples) expect(runeCount(s), JSON.stringify(s)).toBe([...s].length);
  });

  it('pads every column but the last to the widest cell + 3 (at least 10)', () => {
    const out = formatTable([
      ['ID', 'NAME', 'LAST'],
      ['\u{1F600}\u{1F600}', 'a-rather-long-name', 'x'],
    ]);
    expect(out).toBe(
      `ID${' '.repeat(8)}NAME${' '.repeat(17)}LAST\n\u{1F600}\u{1F600}${' '.repeat(8)}a-rather-long-name   x\n`,
    );
    expect(formatTable([])).toBe('');
  });

  it('cuts at code points, never inside a surrogate pair', () => {
    expect(ellipsis('short', 20)).toBe('short');
    expect(ellipsis('\u{1F600}'.repeat(5), 3)).toBe('\u{1F600}\u{1F600}…');
    expect(ellipsis('abcdef', 4)).toBe('abc…');
  });
});
