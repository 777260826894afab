// Detects a layer's compression from its first bytes and streams the uncompressed tar.
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type Digest, sha256Of } from '../../common/digest.js';
import { newGunzip } from '../engine/native.js';
import { type ChunkPool, drop } from './chunk-pool.js';
import { StreamHash } from './stream-hash.js';
import { ZstdStreamError, zstdDecompress } from './zstd.js';

export type DetectedCompression = 'none' | 'gzip' | 'zstd';

export function detectCompression(head: Buffer): DetectedCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: () => Transform };

export function zstdAvailable(): boolean {
  return typeof (zlib as ZlibWithZstd).createZstdDecompress === 'function';
}

function decompressor(kind: DetectedCompression): Transform | null {
  if (kind === 'zstd') return (zlib as ZlibWithZstd).createZstdDecompress?.() ?? null;
  return null;
}

async function* prepend(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield head;
  for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
}

/** zstd through fzstd (./zstd.ts) where this Node.js's zlib has none. */
async function* zstdFallback(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* zstdDecompress(src);
  } catch (e) {
    if (!(e instanceof ZstdStreamError)) throw e;
    if (e.truncated) throw new Error('layer: truncated zstd stream');
    throw new Error(`layer: corrupt zstd stream: ${e.message}`);
  }
}

/** Size of the tar chunks gunzip yields: what the unpacker and the hashing handle best. */
const GUNZIP_CHUNK = 1 << 20;

/**
 * gzip through the addon (ISA-L on the thread pool). An input chunk is stepped through until it is
 * used up; an output buffer is handed on only when full (or at the end), and a step that filled one
 * may have left output pending, so the next goes on even with no input left. With a pool, output
 * buffers come from it and are let go once the consumer asks for the next (see chunk-pool.ts).
 */
async function* gunzip(
  src: AsyncIterable<Buffer>,
  pool?: ChunkPool,
  digest?: OutputDigest,
): AsyncGenerator<Buffer> {
  const g = newGunzip({ hashOutput: digest !== undefined });
  const fresh = () => (pool ? pool.take() : Buffer.allocUnsafe(GUNZIP_CHUNK));
  let out = fresh();
  let filled = 0;
  for await (const chunk of src) {
    let off = 0;
    for (;;) {
      const r = await g.step(chunk.subarray(off), out.subarray(filled)).catch((e: Error) => {
        throw new Error(`layer: corrupt gzip stream: ${e.message}`);
      });
      off += r.used;
      filled += r.produced;
      if (filled === out.length) {
        yield out;
        drop(out);
        out = fresh();
        filled = 0;
      } else if (off >= chunk.length) break;
      else if (r.used === 0 && r.produced === 0) throw new Error('layer: corrupt gzip stream: no progress');
    }
  }
  if (filled > 0) yield out.subarray(0, filled);
  drop(out);
  if (!g.complete()) throw new Error('layer: truncated gzip stream');
  if (digest) digest.value = `sha256:${g.outputDigest()}`;
}

/** The chunks of src, hashed as they pass; the digest is set once src has ended. */
async function* hashedInto(src: AsyncIterable<Buffer>, digest: OutputDigest): AsyncGenerator<Buffer> {
  const h = new StreamHash();
  for await (const c of src) {
    await h.update(c);
    yield c;
  }
  digest.value = await h.digest();
}

/** Receives the SHA-256 of the decompressed bytes (a layer's diff-id) once they have all been read. */
export class OutputDigest {
  value: Digest | undefined;
}

export interface DecompressOptions {
  /**
   * gzip output in this pool's buffers: the consumer must hold (chunk-pool.ts) what it keeps past
   * its next read. Other compressions ignore it.
   */
  pool?: ChunkPool;
  /** Gets the SHA-256 of the output at its end: computed beside the inflate for gzip. */
  digest?: OutputDigest;
}

/** Yields the uncompressed bytes of a (possibly gzip/zstd-compressed) stream, detected by magic number. */
export async function* decompressStream(
  src: AsyncIterable<Buffer>,
  opts: DecompressOptions = {},
): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) {
    if (opts.digest) opts.digest.value = sha256Of(Buffer.alloc(0));
    return;
  }
  let head: Buffer = first.value;
  // a 1-byte first chunk cannot be classified; gather at least 4 bytes
  while (head.length < 4) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, n.value]);
  }
  const kind = detectCompression(head);
  if (kind === 'gzip') {
    yield* gunzip(prepend(head, it), opts.pool, opts.digest);
    return;
  }
  const out = others(kind, head, it);
  yield* opts.digest ? hashedInto(out, opts.digest) : out;
}

/** zstd (node:zlib's where it has one, else fzstd) or no compression at all. */
async function* others(
  kind: DetectedCompression,
  head: Buffer,
  it: AsyncIterator<Buffer>,
): AsyncGenerator<Buffer> {
  const z = decompressor(kind);
  if (!z) {
    yield* kind === 'zstd' ? zstdFallback(prepend(head, it)) : prepend(head, it);
    return;
  }
  // waits for 'drain', or gives up when the consumer went away and z was destroyed
  const drained = () =>
    new Promise<void>((res) => {
      const done = () => {
        z.off('drain', done);
        z.off('close', done);
        res();
      };
      z.on('drain', done);
      z.on('close', done);
    });
  const feed = (async () => {
    try {
      if (!z.write(head)) await drained();
      for (let n = await it.next(); !n.done && !z.destroyed; n = await it.next())
        if (!z.write(n.value)) await drained();
      if (!z.destroyed) z.end();
    } catch (e) {
      z.destroy(e as Error);
    }
  })();
  try {
    for await (const c of z) yield c as Buffer;
  } catch (e) {
    const msg = (e as Error).message;
    if (/unexpected end of file/i.test(msg)) throw new Error(`layer: truncated ${kind} stream`);
    throw new Error(`layer: corrupt ${kind} stream: ${msg}`);
  } finally {
    if (!z.readableEnded) z.destroy();
    await feed;
  }
}
