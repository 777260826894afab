// Detects a layer's compression from its first bytes and streams the uncompressed tar. zstd (OCI
// `+zstd` layers) goes through Node's zlib where it has it (22.15+), else through fzstd (101arrowz's
// streaming Zstandard decoder in plain JavaScript: maintained, no native build, bounded memory).
import { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress } from 'fzstd';

export type DetectedCompression = 'none' | 'gzip' | 'zstd';

export function detectCompression(head: Buffer): DetectedCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: () => Transform };

/** Whether Node's own zlib decodes zstd (else fzstd does). */
export function nativeZstd(): boolean {
  return typeof (zlib as ZlibWithZstd).createZstdDecompress === 'function';
}

/** fzstd's streaming decoder as a Transform. */
function fzstdTransform(): Transform {
  const t: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        d.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      try {
        d.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(new Error(`unexpected end of file (${(e as Error).message})`));
      }
    },
  });
  // a copy: the decoder may reuse its window
  const d = new Decompress((data) => {
    if (data.length) t.push(Buffer.from(data));
  });
  return t;
}

function decompressor(kind: DetectedCompression): Transform | null {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: 1024 * 1024 });
  if (kind === 'zstd') {
    const make = (zlib as ZlibWithZstd).createZstdDecompress;
    return make ? make() : fzstdTransform();
  }
  return null;
}

/** Yields the uncompressed bytes of a (possibly gzip/zstd-compressed) stream, detected by magic number. */
export async function* decompressStream(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  if (first.done) return;
  let head: Buffer = first.value;
  // a 1-byte first chunk cannot be classified; gather at least 4 bytes
  while (head.length < 4) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, n.value]);
  }
  const kind = detectCompression(head);
  const z = decompressor(kind);
  if (!z) {
    yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
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
