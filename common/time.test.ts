import { describe, expect, it } from 'vitest';
import { parseGoDuration, parseTimestamp } from './time.js';

describe('durations and timestamps', () => {
  it('parses Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('-90s')).toBe(-90e9);
    expect(parseGoDuration('5')).toBeUndefined();
  });

  it('reads durations back from now, unix seconds and RFC 3339', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    expect(parseTimestamp('24h', now)).toBe(Date.parse('2026-12-01T12:00:00Z'));
    expect(parseTimestamp('1764676800', now)).toBe(1764676800000);
    expect(parseTimestamp('1764676800.5', now)).toBe(1764676800500);
    expect(parseTimestamp('2026-11-30T10:00:00Z', now)).toBe(Date.parse('2026-11-30T10:00:00Z'));
    expect(parseTimestamp('2026-11-30', now)).toBe(Date.parse('2026-11-30'));
    for (const bad of ['', 'yesterday', '12:00', '1e9', 'NaN'])
      expect(parseTimestamp(bad, now)).toBeUndefined();
  });
});
