import { describe, expect, it } from 'vitest';
import { LineDemuxer, prefixOf } from './service-logs.js';
import { timeValue } from './service-values.js';

describe('service logs output', () => {
  it('prefixes as the docker CLI: name.slot.task@node padded to the replica count width', () => {
    const p = { service: 'web', slot: 3, taskId: 'k45c7b6fkp442dy80xz1i7qgd', node: 'w1' };
    expect(prefixOf(p, { noTaskIds: false, noTrunc: false, padding: 1 })).toBe('web.3.k45c7b6fkp44@w1    | ');
    expect(prefixOf(p, { noTaskIds: false, noTrunc: true, padding: 1 })).toBe(
      'web.3.k45c7b6fkp442dy80xz1i7qgd@w1    | ',
    );
    expect(prefixOf(p, { noTaskIds: true, noTrunc: false, padding: 2 })).toBe('web.3@w1     | ');
  });

  it('sends --since as the docker CLI: a duration becomes unix seconds, times go as they are', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(timeValue('--since', '42m', now)).toBe(((now - 42 * 60_000) / 1000).toFixed(9));
    expect(timeValue('--since', '1700000000', now)).toBe('1700000000');
    expect(timeValue('--since', '2026-12-02T09:00:00Z', now)).toBe('2026-12-02T09:00:00Z');
    expect(() => timeValue('--since', 'yesterday', now)).toThrow(
      /invalid argument "yesterday" for "--since"/,
    );
  });

  it('splits frames into lines per stream, the daemon’s error (stream 3) apart', () => {
    const seen: [number, string][] = [];
    const d = new LineDemuxer((s, l) => seen.push([s, l]));
    const frame = (s: number, text: string) => {
      const h = Buffer.alloc(8);
      h[0] = s;
      h.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([h, Buffer.from(text)]);
    };
    const all = Buffer.concat([frame(1, 'a\n'), frame(2, 'b\n'), frame(3, 'incomplete\n')]);
    d.push(all.subarray(0, 5));
    d.push(all.subarray(5));
    d.end();
    expect(seen).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'incomplete'],
    ]);
  });
});
