// Helpers for layer blobs already in the store: their compression and their uncompressed bytes.
import { promises as fs } from 'node:fs';
import type { Digest } from '../../common/digest.js';
import type { BlobStore } from './blobstore.js';
import { decompressStream, detectCompression } from './decompress.js';
import { MT } from './mediatypes.js';

export async function blobCompression(blobs: BlobStore, d: Digest) {
  const fh = await fs.open(blobs.pathOf(d), 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export async function ociLayerMediaType(blobs: BlobStore, d: Digest): Promise<string> {
  const c = await blobCompression(blobs, d);
  return c === 'gzip' ? MT.ociLayerGzip : c === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
}

export function uncompressedStream(blobs: BlobStore, d: Digest): AsyncIterable<Buffer> {
  return decompressStream(blobs.stream(d) as AsyncIterable<Buffer>);
}
