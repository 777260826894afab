// Issue 7 B: what killed loads and pulls leave behind is collected when the store opens (never
// anything the index references), and `rmi` frees space on a full disk. The full-disk case runs on
// a tmpfs of a few MB mounted for the test; the kill -9 case kills a real shoald mid-load.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hexOf, sha256Of } from '../../common/digest.js';
import { loadArchive } from '../../worker/images/load.js';
import { ImageStore } from '../../worker/images/store.js';
import { type TarSource, writeTar } from '../../worker/images/tar/writer.js';
import { cleanup, type Daemon, eventually, shoal, startShoald } from '../daemon/harness.js';
import { dockerSaveTar, makeImage, tarOf } from '../fixtures/steps/images-lib.js';
import { ensureImageFixtures, fixture } from './fixtures.js';

let tmp: string;
beforeAll(() => ensureImageFixtures());
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-leftovers-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}
const layerOf = (name: string, content: Buffer | string) =>
  tarOf([{ entry: { name, type: 'file' }, body: Buffer.isBuffer(content) ? content : Buffer.from(content) }]);
const imageArchive = async (tag: string, layers: Buffer[]) =>
  dockerSaveTar([{ image: makeImage(layers), tags: [tag] }]);

/** Everything in the store's directories, and the content the index references. */
async function inventory(root: string) {
  const ls = (d: string) => fs.readdir(path.join(root, d)).catch(() => [] as string[]);
  const index = JSON.parse(await fs.readFile(path.join(root, 'images.json'), 'utf8'));
  const refBlobs = new Set<string>();
  const refLayers = new Set<string>();
  for (const rec of Object.values(index.images) as {
    configDigest: string;
    manifestDigest: string;
    layers: { digest: string; diffId: string }[];
  }[]) {
    refBlobs.add(hexOf(rec.configDigest as `sha256:${string}`));
    refBlobs.add(hexOf(rec.manifestDigest as `sha256:${string}`));
    for (const l of rec.layers) {
      refBlobs.add(hexOf(l.digest as `sha256:${string}`));
      refLayers.add(hexOf(l.diffId as `sha256:${string}`));
    }
  }
  return {
    root: (await ls('.')).sort(),
    blobs: (await ls('blobs/sha256')).sort(),
    layers: (await ls('layers')).sort(),
    tmp: await ls('tmp'),
    refBlobs: [...refBlobs].sort(),
    refLayers: [...refLayers].sort(),
  };
}

describe('start-up collection of leftovers', () => {
  it('removes what a killed load or pull leaves, exactly as it leaves it, and keeps every referenced file', async () => {
    const root = path.join(tmp, 'images');
    let store = await ImageStore.open(root);
    await loadArchive(store, once(await fs.readFile(fixture('busybox.docker.tar'))));
    const keep = await inventory(root);
    // a killed load: every archive file committed as a blob, one layer unpacked completely and
    // one half-way, a blob being written, an index write never renamed
    const orphanLayer = await layerOf('orphan', randomBytes(64 << 10));
    const archive = await imageArchive('killed:1', [orphanLayer]);
    for (const b of [archive, orphanLayer, Buffer.from('1.0'), Buffer.from('{"config":1}')])
      await fs.writeFile(path.join(root, 'blobs/sha256', sha256Of(b).slice(7)), b);
    const orphanDir = path.join(root, 'layers', sha256Of(orphanLayer).slice(7));
    await fs.mkdir(path.join(orphanDir, 'diff'), { recursive: true });
    await fs.writeFile(path.join(orphanDir, 'diff/orphan'), randomBytes(64 << 10));
    await fs.writeFile(
      path.join(orphanDir, 'layer.json'),
      JSON.stringify({ diffId: sha256Of(orphanLayer), tarSize: orphanLayer.length, contentSize: 65536 }),
    );
    await fs.mkdir(path.join(root, 'layers', '.tmp-4242-1-3', 'diff', 'usr'), { recursive: true });
    await fs.chmod(path.join(root, 'layers', '.tmp-4242-1-3', 'diff', 'usr'), 0o555);
    await fs.writeFile(path.join(root, 'tmp', 'blob-4242-1-7'), randomBytes(1 << 20));
    await fs.writeFile(path.join(root, '.images.json.tmp-4242-9'), '{"version":1');
    const dirty = await inventory(root);
    expect(dirty.blobs.length).toBe(keep.blobs.length + 4);
    expect(dirty.layers.length).toBe(keep.layers.length + 2);

    store = await ImageStore.open(root);
    const after = await inventory(root);
    expect(after).toEqual(keep);
    expect(after.blobs).toEqual(after.refBlobs);
    expect(after.layers).toEqual(after.refLayers);
    expect(after.root).not.toContain('.images.json.tmp-4242-9');
    const rf = await store.rootfs('busybox');
    expect((await fs.stat(path.join(rf.layers[0], 'bin/busybox'))).size).toBeGreaterThan(500_000);
  });

  it('an image whose content a data-first removal already deleted is dropped at open; others stay whole', async () => {
    const root = path.join(tmp, 'images');
    let store = await ImageStore.open(root);
    const shared = await layerOf('shared', 'both\n');
    await loadArchive(store, once(await imageArchive('a:1', [shared, await layerOf('a', 'a\n')])));
    await loadArchive(store, once(await imageArchive('b:1', [shared, await layerOf('b', 'b\n')])));
    // a removal of b:1 that had deleted b's own layer and config, then crashed before the index
    const b = store.get('b:1');
    await fs.rm(path.join(root, 'layers', hexOf(b.layers[1].diffId)), { recursive: true });
    await fs.rm(path.join(root, 'blobs/sha256', hexOf(b.configDigest)));
    store = await ImageStore.open(root);
    expect(store.resolve('b:1')).toBeUndefined();
    expect(store.get('a:1').layers).toHaveLength(2);
    const after = await inventory(root);
    expect(after.blobs).toEqual(after.refBlobs);
    expect(after.layers).toEqual(after.refLayers);
    expect(after.layers).toContain(hexOf(b.layers[0].diffId)); // shared with a:1
  });
});

describe('rmi on a full disk', () => {
  let mnt: string | undefined;
  afterEach(() => {
    if (mnt) execFileSync('umount', ['-l', mnt]);
    mnt = undefined;
  });

  it('frees the space of the removed image although the index cannot be rewritten first', async () => {
    mnt = path.join(tmp, 'fs');
    await fs.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    const root = path.join(mnt, 'images');
    let store = await ImageStore.open(root);
    await loadArchive(store, once(await imageArchive('small:1', [await layerOf('s', 'small\n')])));
    // blob + unpacked layer: ~5 MB of the 8
    await loadArchive(
      store,
      once(await imageArchive('big:1', [await layerOf('big', randomBytes(2500 << 10))])),
    );
    const filler = await fs.open(path.join(mnt, 'filler'), 'w');
    const piece = Buffer.alloc(4096, 1);
    try {
      for (;;) await filler.write(piece);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await filler.close();
    }
    const free = async () => {
      const s = await fs.statfs(mnt!);
      return s.bavail * s.bsize;
    };
    const freeBefore = await free();
    // the disk is really full for the index: a tag cannot be recorded
    await expect(store.tag('small:1', 'other:1')).rejects.toThrow(/ENOSPC/);

    const r = await store.remove('big:1');
    expect(r.deleted).toHaveLength(1);
    expect(r.untagged).toEqual(['big:1']);
    expect((await free()) - freeBefore).toBeGreaterThan(4_500_000);
    expect((await fs.readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // the removal is durable and the other image is intact
    store = await ImageStore.open(root);
    expect(store.resolve('big:1')).toBeUndefined();
    expect((await store.list()).map((i) => i.repoTags)).toEqual([['small:1']]);
    const rf = await store.rootfs('small:1');
    expect(await fs.readFile(path.join(rf.layers[0], 's'), 'utf8')).toBe('small\n');
    const after = await inventory(root);
    expect(after.blobs).toEqual(after.refBlobs);
    expect(after.layers).toEqual(after.refLayers);
  });
});

describe('a shoald killed mid-load', () => {
  let d: Daemon | undefined;
  afterEach(async () => {
    await cleanup(d);
    d = undefined;
  });

  it('leaves nothing behind after the next start, and loaded images stay whole', async () => {
    d = await startShoald();
    expect((await shoal(d, ['load', '-i', fixture('busybox.docker.tar')])).code).toBe(0);
    const root = path.join(d.dataRoot, 'images');
    const keep = await inventory(root);
    // an archive whose files stream in: 8 MB committed as blobs, then a file never finished
    const big = randomBytes(4 << 20);
    async function* items(): AsyncGenerator<TarSource> {
      yield { entry: { name: 'one', type: 'file' }, body: big };
      yield { entry: { name: 'two', type: 'file' }, body: Buffer.concat([big, Buffer.from('2')]) };
      yield {
        entry: { name: 'three', type: 'file', size: 8 << 20 },
        body: (async function* () {
          yield big;
          await new Promise(() => {}); // never ends: shoald is killed meanwhile
        })(),
      };
    }
    const req = request({ socketPath: d.sock, method: 'POST', path: '/images/load' });
    req.on('error', () => {});
    (async () => {
      for await (const c of writeTar(items()))
        if (!req.write(c)) await new Promise((r) => req.once('drain', r));
    })().catch(() => {});
    const blobsDir = path.join(root, 'blobs/sha256');
    await eventually(
      async () => (await fs.readdir(blobsDir)).length >= keep.blobs.length + 2,
      'the load to commit its first blobs',
      600,
    );
    await eventually(
      async () => (await fs.readdir(path.join(root, 'tmp'))).length > 0,
      'a blob in tmp/',
      600,
    );
    d.proc.kill('SIGKILL');
    await new Promise((r) => d!.proc.once('exit', r));
    req.destroy();
    expect((await inventory(root)).blobs.length).toBeGreaterThanOrEqual(keep.blobs.length + 2);

    d = await startShoald(d.dir);
    expect(await inventory(root)).toEqual(keep);
    const run = await shoal(d, ['run', '--rm', 'busybox', 'echo', 'whole']);
    expect(run).toMatchObject({ code: 0, stdout: 'whole\n' });
  }, 120_000);
});
