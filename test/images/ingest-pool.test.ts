// Layer ingestion hands its chunks round a pool of reused buffers (worker/images/chunk-pool.ts). A
// stage that used a chunk after letting go would write another layer's bytes into a file; the
// digests would not notice (they are taken as the bytes pass). Here the pool is small (4 KiB, so
// every file and header straddles buffers) and poisons each buffer it gets back, four layers go at
// once from sources cut at odd places, and every unpacked file is compared with its original.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { lgetxattr } from '../../worker/engine/native.js';
import { ChunkPool } from '../../worker/images/chunk-pool.js';
import { ingestLayer } from '../../worker/images/ingest.js';
import { ImageStore } from '../../worker/images/store.js';
import type { TarSource } from '../../worker/images/tar/writer.js';
import { tarOf } from '../fixtures/steps/images-lib.js';

let tmp: string;
let store: ImageStore;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-ingest-pool-'));
  store = await ImageStore.open(path.join(tmp, 'images'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Sizes around the pool's 4 KiB and the tar's 512-byte blocks, and a few large ones. */
const SIZES = [0, 1, 511, 512, 513, 4095, 4096, 4097, 9000, 70_000, 300_001];

function layerItems(n: number): { items: TarSource[]; files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  const items: TarSource[] = [{ entry: { name: `l${n}/`, type: 'dir' } }];
  for (const [i, size] of SIZES.entries()) {
    const body = randomBytes(size);
    const name = `l${n}/f${i}`;
    files.set(name, body);
    // a PAX header (binary xattr) before some: its value is read from a pooled chunk
    const xattrs = i % 3 === 0 ? { 'user.tag': Buffer.from([n, i, 0, 255]) } : undefined;
    items.push({ entry: { name, type: 'file', xattrs }, body });
  }
  // a long name (GNU/PAX path) and a symlink after the data
  const long = `l${n}/${'d'.repeat(150)}/${'n'.repeat(120)}`;
  items.push({ entry: { name: `l${n}/${'d'.repeat(150)}/`, type: 'dir' } });
  const body = randomBytes(5000);
  files.set(long, body);
  items.push({ entry: { name: long, type: 'file' }, body });
  items.push({ entry: { name: `l${n}/link`, type: 'symlink', linkname: 'f1' } });
  return { items, files };
}

/** The bytes in pieces of varying size (as network reads come). */
async function* pieces(b: Buffer, seed: number): AsyncGenerator<Buffer> {
  let off = 0;
  for (let i = 0; off < b.length; i++) {
    const n = [1, 7, 333, 4096, 5000, 65_536, 100][(i + seed) % 7];
    yield Buffer.from(b.subarray(off, off + n));
    off += n;
    if (i % 5 === 0) await new Promise((r) => setImmediate(r));
  }
}

describe('layer ingestion through a pool of reused buffers', () => {
  it('unpacks every file byte for byte with four layers at once, and every buffer comes back', async () => {
    const pool = new ChunkPool(4096, { keep: 10_000, idleMs: 600_000, poison: 0xaa });
    const layers = await Promise.all(
      [0, 1, 2, 3].map(async (n) => {
        const { items, files } = layerItems(n);
        const tar = await tarOf(items);
        return { tar, gz: gzipSync(tar), files };
      }),
    );
    const results = await Promise.all(
      layers.map((l, n) =>
        ingestLayer(
          store.blobs,
          store.layers,
          pieces(l.gz, n),
          { digest: sha256Of(l.gz), size: l.gz.length, diffId: sha256Of(l.tar) },
          pool,
        ),
      ),
    );
    for (const [n, l] of layers.entries()) {
      expect(results[n].diffId).toBe(sha256Of(l.tar));
      const dir = store.layers.diffDir(results[n].diffId);
      for (const [name, body] of l.files) expect(await fs.readFile(path.join(dir, name))).toEqual(body);
      for (const i of [0, 3, 6, 9])
        expect(await lgetxattr(path.join(dir, `l${n}/f${i}`), 'user.tag')).toEqual(
          Buffer.from([n, i, 0, 255]),
        );
      expect(await fs.readlink(path.join(dir, `l${n}/link`))).toBe('f1');
      // the stored blob is the compressed layer, byte for byte
      expect(await fs.readFile(store.blobs.pathOf(results[n].digest))).toEqual(l.gz);
    }
    // every buffer taken was let go by every stage (a missing drop would keep one out)
    expect(pool.allocated).toBeGreaterThan(4);
    expect(pool.idle).toBe(pool.allocated);
  });

  it('a corrupt layer fails as before, and the pool stays usable', async () => {
    const pool = new ChunkPool(4096, { keep: 10_000, idleMs: 600_000, poison: 0xaa });
    const { items } = layerItems(0);
    const tar = await tarOf(items);
    const gz = gzipSync(tar);
    gz[gz.length >> 1] ^= 0xff;
    await expect(
      ingestLayer(store.blobs, store.layers, pieces(gz, 0), { diffId: sha256Of(tar) }, pool),
    ).rejects.toThrow(/corrupt gzip stream|diff-id|incorrect data check/);
    const good = layerItems(1);
    const tar2 = await tarOf(good.items);
    const r = await ingestLayer(store.blobs, store.layers, pieces(gzipSync(tar2), 3), {}, pool);
    const dir = store.layers.diffDir(r.diffId);
    for (const [name, body] of good.files) expect(await fs.readFile(path.join(dir, name))).toEqual(body);
  });
});
