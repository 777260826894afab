import { describe, expect, it } from 'vitest';
import { crc32c } from '../../manager/raft/wal/crc32c.js';

// Bitwise reference implementation, used only to cross-check the table-driven one.
function slow(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the check value and the RFC 3720 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bitwise implementation on every length and alignment, and can be continued', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let len = 0; len + start <= data.length; len += 17) {
        const part = data.subarray(start, start + len);
        expect(crc32c(data, 0, start, start + len)).toBe(slow(part));
      }
    }
    const whole = crc32c(data);
    expect(crc32c(data, crc32c(data, 0, 0, 123), 123)).toBe(whole);
  });
});
