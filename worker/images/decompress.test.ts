import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { decompressStream, detectCompression, zstdAvailable } from './decompress.js';

async function all(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(c);
  return Buffer.concat(parts);
}
async function* pieces(b: Buffer, n: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

it('detects gzip and zstd by magic number, anything else is a plain tar', () => {
  expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
  expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
  expect(detectCompression(Buffer.from('ustar'))).toBe('none');
});

it('streams gzip and plain data, even when the magic number is split across chunks', async () => {
  const data = Buffer.alloc(300_000, 'layer data ');
  expect((await all(decompressStream(pieces(gzipSync(data), 1)))).equals(data)).toBe(true);
  expect((await all(decompressStream(pieces(data, 3)))).equals(data)).toBe(true);
});

it('names truncated and corrupt gzip streams', async () => {
  const gz = gzipSync(Buffer.alloc(100_000, 'x'));
  await expect(all(decompressStream(pieces(gz.subarray(0, gz.length - 20), 4096)))).rejects.toThrow(
    'layer: truncated gzip stream',
  );
  const bad = Buffer.from(gz);
  bad[20] ^= 0xff;
  await expect(all(decompressStream(pieces(bad, 4096)))).rejects.toThrow(
    /layer: (corrupt|truncated) gzip stream/,
  );
});

it.skipIf(zstdAvailable())('says that zstd layers need a newer Node.js', async () => {
  const zst = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
  await expect(all(decompressStream(pieces(zst, 8)))).rejects.toThrow(
    /zstd-compressed, which this Node\.js .* cannot decompress/,
  );
});
