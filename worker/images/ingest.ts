// One pass over a layer blob: bytes go to the blob store (hashed: the blob digest) and, decompressed
// (hashed: the diff-id), into a fresh layer directory. Both digests are checked before either the
// blob or the layer becomes visible.
import type { Digest } from '../../common/digest.js';
import type { BlobStore, BlobWriter } from './blobstore.js';
import { DigestMismatchError, SizeMismatchError } from './blobstore.js';
import { type ChunkPool, drop, layerChunks } from './chunk-pool.js';
import { decompressStream, OutputDigest } from './decompress.js';
import type { LayerMeta, LayerStore } from './layers.js';
import { StreamHash } from './stream-hash.js';
import { unpackLayer } from './unpack.js';

export interface LayerExpectations {
  /** digest of the (compressed) blob, from the manifest */
  digest?: Digest;
  size?: number;
  /** uncompressed digest, from the config's rootfs.diff_ids */
  diffId?: Digest;
  /** for error messages */
  label?: string;
}

export interface IngestedLayer {
  digest: Digest;
  size: number;
  diffId: Digest;
  meta: LayerMeta;
}

/**
 * Network reads arrive in 16-64 KiB pieces; every piece costs a trip through the thread pool and
 * the generators below. They are gathered into the pool's buffers (1 MiB), which roughly halves
 * the CPU of a pull; each is let go once the consumer asks for the next (chunk-pool.ts).
 */
async function* coalesce(src: AsyncIterable<Buffer>, pool: ChunkPool): AsyncGenerator<Buffer> {
  let buf: Buffer | null = null;
  let n = 0;
  for await (const c of src) {
    if (n === 0 && c.length >= pool.size) {
      yield c;
      continue;
    }
    for (let off = 0; off < c.length; ) {
      buf ??= pool.take();
      const k = c.copy(buf, n, off);
      n += k;
      off += k;
      if (n === buf.length) {
        yield buf;
        drop(buf);
        buf = null;
        n = 0;
      }
    }
  }
  if (buf && n > 0) yield buf.subarray(0, n);
  if (buf) drop(buf);
}

async function* counting(src: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of src) {
    count(c.length);
    yield c;
  }
}

/** The diff-id once the tar was read to its end (the inflate hashed it). */
function diffIdOf(d: OutputDigest, what: string): Digest {
  if (!d.value) throw new Error(`${what}: the uncompressed stream was not read to its end`);
  return d.value;
}

/** `pool` only for tests (small, poisoned buffers); a pull uses the process's. */
export async function ingestLayer(
  blobs: BlobStore,
  layers: LayerStore,
  src: AsyncIterable<Buffer>,
  expect: LayerExpectations,
  pool: ChunkPool = layerChunks,
): Promise<IngestedLayer> {
  const what = expect.label ?? `layer ${expect.digest ?? ''}`.trim();
  const blobPresent = expect.digest ? await blobs.has(expect.digest) : false;
  const layerPresent = expect.diffId ? await layers.has(expect.diffId) : false;
  // both present is not enough: that this blob unpacks to this diff-id must have been verified once
  // (else any stored blob could be named as any stored layer); unverified pairs are checked below
  if (blobPresent && expect.digest && expect.diffId && (await layers.paired(expect.diffId, expect.digest))) {
    for await (const _ of src) {
      /* drain */
    }
    const meta = (await layers.meta(expect.diffId))!;
    return { digest: expect.digest, size: await blobs.size(expect.digest), diffId: expect.diffId, meta };
  }
  const writer: BlobWriter | null = blobPresent ? null : await blobs.writer();
  // The blob's bytes go, in order, through the writer (hashed and stored) or, when the store has them,
  // through a hash alone; either queue holds its chunks and bounds how far the reader runs ahead.
  const blobHash = writer ? null : new StreamHash();
  let compressedSize = 0;
  const diff = new OutputDigest();
  let tarSize = 0;
  const compressed = (async function* () {
    for await (const c of coalesce(src, pool)) {
      compressedSize += c.length;
      if (writer) await writer.write(c);
      else await blobHash!.update(c);
      yield c;
    }
  })();
  const tar = counting(decompressStream(compressed, { pool, digest: diff }), (n) => {
    tarSize += n;
  });
  const checkBlob = async () => {
    for await (const _ of compressed) {
      /* bytes after the compressed stream's end */
    }
    if (expect.size !== undefined && expect.size >= 0 && compressedSize !== expect.size)
      throw new SizeMismatchError(expect.size, compressedSize, what);
    // waits for every queued write: the digest covers every byte read
    blobDigest = await (writer ?? blobHash!).digest();
    if (expect.digest && blobDigest !== expect.digest)
      throw new DigestMismatchError(expect.digest, blobDigest, what);
  };
  let blobDigest: Digest | undefined;
  try {
    let unpackedDiff: Digest | undefined;
    const meta = await layers.ensure(layerPresent ? expect.diffId : undefined, async (dir) => {
      const st = await unpackLayer(tar, dir);
      for await (const _ of tar) {
        /* trailing bytes after the end-of-archive marker */
      }
      unpackedDiff = diffIdOf(diff, what);
      if (expect.diffId && unpackedDiff !== expect.diffId)
        throw new DigestMismatchError(expect.diffId, unpackedDiff, `${what}: diff-id (uncompressed)`);
      // the blob must be right too before the layer becomes visible
      await checkBlob();
      return { diffId: unpackedDiff, tarSize, contentSize: st.bytes, blobs: [blobDigest!] };
    });
    if (layerPresent) {
      // layer already unpacked: still verify the bytes we were given
      for await (const _ of tar) {
        /* hash only */
      }
      unpackedDiff = diffIdOf(diff, what);
      if (unpackedDiff !== expect.diffId)
        throw new DigestMismatchError(expect.diffId!, unpackedDiff, `${what}: diff-id (uncompressed)`);
      await checkBlob();
    }
    const digest = writer ? await writer.commit(expect.digest, expect.size, what) : (expect.digest as Digest);
    if (layerPresent) await layers.addPair(meta.diffId, digest);
    return { digest, size: compressedSize, diffId: meta.diffId, meta };
  } catch (e) {
    await writer?.abort(); // after its queued writes
    // a layer unpacked under a diff-id that turned out to come from a bad blob must not stay
    throw e;
  }
}
