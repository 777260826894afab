import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { decompressStream, detectCompression } from './decompress.js';

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

/** zstd(1) (Debian's zstd, installed by setup.sh) makes the frames a registry would serve. */
const zstd = (data: Buffer, level = 3) => execFileSync('zstd', [`-${level}`, '-c', '-q'], { input: data });

it('streams zstd layers (OCI +zstd), also split into tiny chunks', async () => {
  const data = Buffer.concat(Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} of a layer\n`)));
  const zst = zstd(data, 19);
  expect((await all(decompressStream(pieces(zst, 1)))).equals(data)).toBe(true);
  const big = Buffer.alloc(5 << 20, 'abc');
  expect((await all(decompressStream(pieces(zstd(big), 65536)))).equals(big)).toBe(true);
});

it('names truncated and corrupt zstd streams', async () => {
  const zst = zstd(Buffer.alloc(200_000, 'y'));
  await expect(all(decompressStream(pieces(zst.subarray(0, zst.length - 8), 4096)))).rejects.toThrow(
    /layer: (truncated|corrupt) zstd stream/,
  );
  const bad = Buffer.from(zst);
  bad[6] ^= 0xff;
  await expect(all(decompressStream(pieces(bad, 4096)))).rejects.toThrow(
    /layer: (corrupt|truncated) zstd stream/,
  );
});
