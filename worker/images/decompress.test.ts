import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { newGunzip } from '../engine/native.js';
import { decompressStream, detectCompression, OutputDigest } from './decompress.js';

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

it('gzip: several members, zero padding after them, headers with a name, any chunking', async () => {
  const a = randomBytes(20_000);
  const b = Buffer.alloc(60_000, 'second member ');
  const multi = Buffer.concat([gzipSync(a), gzipSync(b), Buffer.alloc(1024)]);
  for (const n of [1, 7, 4096, multi.length])
    expect((await all(decompressStream(pieces(multi, n)))).equals(Buffer.concat([a, b]))).toBe(true);
  // gzip(1) writes the file name into the header (FNAME)
  const dir = mkdtempSync(join(tmpdir(), 'gz-'));
  try {
    writeFileSync(join(dir, 'layer.tar'), b);
    const named = execFileSync('gzip', ['-c', join(dir, 'layer.tar')], { maxBuffer: 1 << 24 });
    expect(named[3] & 0x08).toBe(0x08);
    expect((await all(decompressStream(pieces(named, 5)))).equals(b)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('gzip: a wrong checksum or length in the trailer, or bytes after the stream, is refused', async () => {
  const gz = gzipSync(randomBytes(50_000));
  for (const at of [gz.length - 6, gz.length - 1]) {
    const bad = Buffer.from(gz);
    bad[at] ^= 1; // CRC-32, then ISIZE
    await expect(all(decompressStream(pieces(bad, 4096)))).rejects.toThrow('layer: corrupt gzip stream');
  }
  await expect(
    all(decompressStream(pieces(Buffer.concat([gz, Buffer.from('trailing garbage bytes')]), 4096))),
  ).rejects.toThrow('layer: corrupt gzip stream');
});

it('gzip: output comes in chunks of at most 1 MiB however far a chunk of input expands', async () => {
  const zeros = gzipSync(Buffer.alloc(40 << 20), { level: 9 }); // ~40 KiB in, 40 MiB out
  let total = 0;
  let largest = 0;
  for await (const c of decompressStream(pieces(zeros, zeros.length))) {
    total += c.length;
    largest = Math.max(largest, c.length);
  }
  expect(total).toBe(40 << 20);
  expect(largest).toBe(1 << 20);
});

// zstd(1) (Debian's zstd) makes real frames; crafted headers test the guard's bounds
const zstdOf = (data: Buffer, ...flags: string[]) =>
  execFileSync('zstd', ['-q', '-c', ...flags], { input: data, maxBuffer: 1 << 28 });

it('streams zstd layers: several frames, a skippable frame, any chunking', async () => {
  const a = Buffer.alloc(3_000_000, 'zstd layer data ');
  const b = randomBytes(200_000);
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
  const zst = Buffer.concat([zstdOf(a), skippable, zstdOf(b, '-19')]);
  for (const n of [1, 7, 4096, 1 << 20])
    expect((await all(decompressStream(pieces(zst, n)))).equals(Buffer.concat([a, b]))).toBe(true);
});

/** one frame (no checksum) holding one raw block of `body`, with the window descriptor byte given */
const rawFrame = (descriptor: number, header: number[], body: Buffer) =>
  Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, descriptor, ...header]),
    Buffer.from([(1 | (body.length << 3)) & 0xff, (body.length << 3) >> 8, (body.length << 3) >> 16]),
    body,
  ]);

it('refuses zstd frames asking for a window over 128 MiB before allocating it', async () => {
  // positive control: the same crafted frame with a 1 KiB window decodes
  expect((await all(decompressStream(pieces(rawFrame(0, [0], Buffer.from('hi')), 3)))).toString()).toBe('hi');
  // window descriptor exponent 18: a 256 MiB window
  await expect(all(decompressStream(pieces(rawFrame(0, [18 << 3], Buffer.from('hi')), 3)))).rejects.toThrow(
    /layer: corrupt zstd stream: frame needs a 268435456-byte window/,
  );
  // single segment with an 8-byte content size of 1 TiB: the window is the content
  const big = Buffer.alloc(8);
  big.writeBigUInt64LE(1n << 40n);
  await expect(
    all(decompressStream(pieces(rawFrame(0xe0, [...big], Buffer.from('hi')), 64))),
  ).rejects.toThrow(/frame needs a 1099511627776-byte window/);
});

it('names truncated and corrupt zstd streams', async () => {
  const zst = zstdOf(Buffer.alloc(500_000, 'y'));
  await expect(all(decompressStream(pieces(zst.subarray(0, zst.length - 5), 4096)))).rejects.toThrow(
    'layer: truncated zstd stream',
  );
  // a reserved block type in the first block header (just after the 6-byte frame header)
  const bad = Buffer.from(rawFrame(0, [0], Buffer.from('hi')));
  bad[6] |= 0b110;
  await expect(all(decompressStream(pieces(bad, 4096)))).rejects.toThrow(
    'layer: corrupt zstd stream: block header: reserved block type',
  );
  await expect(
    all(decompressStream(pieces(Buffer.concat([zst, Buffer.from('junk after the frame')]), 4096))),
  ).rejects.toThrow(/layer: corrupt zstd stream: not a zstd frame/);
});

it('gives the SHA-256 of what came out, hashed beside the inflate for gzip, as chunks pass otherwise', async () => {
  const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(2 << 20, 'layer ')]);
  const cases: [string, Buffer][] = [
    ['gzip', gzipSync(data)],
    // two members and zero padding between them: one stream, one digest
    [
      'two gzip members',
      Buffer.concat([gzipSync(data.subarray(0, 1000)), Buffer.alloc(512), gzipSync(data.subarray(1000))]),
    ],
    ['zstd', zstdOf(data)],
    ['plain', data],
  ];
  for (const [what, input] of cases) {
    const digest = new OutputDigest();
    const out = await all(decompressStream(pieces(input, 100_000), { digest }));
    expect(out.equals(data), what).toBe(true);
    expect(digest.value, what).toBe(sha256Of(data));
  }
  const empty = new OutputDigest();
  expect((await all(decompressStream(pieces(Buffer.alloc(0), 1), { digest: empty }))).length).toBe(0);
  expect(empty.value).toBe(sha256Of(Buffer.alloc(0)));
  // a stream left unread has no digest yet
  const partial = new OutputDigest();
  const it = decompressStream(pieces(gzipSync(data), 100_000), { digest: partial });
  await it.next();
  await it.return(undefined);
  expect(partial.value).toBeUndefined();
});

it("refuses a gunzip's output digest when it was not asked to hash", async () => {
  const g = newGunzip();
  const out = Buffer.alloc(1 << 16);
  await g.step(gzipSync(Buffer.from('x')), out);
  expect(() => g.outputDigest()).toThrow('Gunzip.outputDigest: made without hashOutput');
  const h = newGunzip({ hashOutput: true });
  const r = await h.step(gzipSync(Buffer.from('abc')), out);
  expect(r.produced).toBe(3);
  expect(`sha256:${h.outputDigest()}`).toBe(sha256Of(Buffer.from('abc')));
});
