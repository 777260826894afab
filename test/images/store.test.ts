// The image store end to end on disk: load (docker save, OCI layout), save round trips, import,
// tag/rm/prune with shared layers, and bad archives that must leave `image ls` unchanged.
import { execFileSync } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { importRootfs } from '../../worker/images/import.js';
import { loadArchive } from '../../worker/images/load.js';
import { saveArchive } from '../../worker/images/save.js';
import { ImageStore } from '../../worker/images/store.js';
import { collect, dockerSaveTar, makeImage, tarOf } from '../fixtures/steps/images-lib.js';
import { spreadsSubdirs } from '../fixtures/topdir.js';
import { ensureImageFixtures, fixture } from './fixtures.js';

let tmp: string;
let store: ImageStore;
beforeAll(() => ensureImageFixtures());
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-store-'));
  store = await ImageStore.open(path.join(tmp, 'images'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const load = (file: string, s = store) => loadArchive(s, createReadStream(file) as AsyncIterable<Buffer>);
async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}
const snapshot = async () => ({
  list: await store.list(),
  blobs: (await store.blobs.list()).sort(),
  layers: (await store.layers.list()).sort(),
  dirs: (await fs.readdir(store.layers.dir)).sort(),
});

describe('layer directories', () => {
  it('are spread over the file system like top-level ones (FS_TOPDIR_FL on layers/, where ext4 has it)', () => {
    const parent = spreadsSubdirs(tmp);
    if (parent === undefined) return; // a file system without inode flags: the store opens all the same
    expect(parent).toBe(false);
    expect(spreadsSubdirs(store.layers.dir)).toBe(true);
  });
});

describe('load', () => {
  it('loads a docker save tarball', async () => {
    const r = await load(fixture('busybox.docker.tar'));
    expect(r.loaded.map((l) => l.ref)).toEqual(['busybox:latest']);
    const rf = await store.rootfs('busybox');
    expect(rf.layers).toHaveLength(1);
    expect((await fs.lstat(path.join(rf.layers[0], 'bin/busybox'))).isFile()).toBe(true);
    expect(await fs.readlink(path.join(rf.layers[0], 'bin/sh'))).toBe('busybox');
    expect(rf.config.config?.Cmd).toEqual(['sh']);
  });

  it('loads an OCI layout tarball of the same image to the same image id, sharing the layer', async () => {
    const a = await load(fixture('busybox.docker.tar'));
    const b = await load(fixture('busybox.oci.tar'));
    expect(b.loaded).toEqual([{ ref: 'busybox:latest', id: a.loaded[0].id }]);
    expect(await store.layers.list()).toHaveLength(1);
  });

  it('loads the multi-layer image and shares its base layer with busybox', async () => {
    await load(fixture('busybox.docker.tar'));
    await load(fixture('multilayer.docker.tar'));
    expect((await store.list()).map((i) => i.repoTags[0]).sort()).toEqual([
      'busybox:latest',
      'shoal/multilayer:latest',
    ]);
    expect(await store.layers.list()).toHaveLength(3);
    const counts = [...store.layerRefcounts().values()].sort();
    expect(counts).toEqual([1, 1, 2]);
  });

  it('rejects archives that are neither format, and leaves the store as it was', async () => {
    await load(fixture('busybox.docker.tar'));
    const before = await snapshot();
    const junk = await tarOf([{ entry: { name: 'hello.txt', type: 'file' }, body: Buffer.from('hi') }]);
    await expect(loadArchive(store, once(junk))).rejects.toThrow(/neither a docker save archive/);
    expect(await snapshot()).toEqual(before);
  });

  it('a truncated archive fails clearly and changes nothing', async () => {
    const before = await snapshot();
    const buf = await fs.readFile(fixture('multilayer.docker.tar'));
    await expect(loadArchive(store, once(buf.subarray(0, 1_000_000)))).rejects.toThrow(/tar: truncated/);
    expect(await snapshot()).toEqual(before);
    expect(await fs.readdir(store.blobs.tmpDir)).toEqual([]);
  });

  it('a layer that does not match the config diff-id is rejected, nothing registered', async () => {
    const layer = await tarOf([{ entry: { name: 'a', type: 'file' }, body: Buffer.from('a') }]);
    const img = makeImage([layer]);
    const other = await tarOf([{ entry: { name: 'b', type: 'file' }, body: Buffer.from('b') }]);
    const bad = await dockerSaveTar([{ image: { config: img.config, layers: [other] }, tags: ['bad:1'] }]);
    await expect(loadArchive(store, once(bad))).rejects.toThrow(/diff-id \(uncompressed\): digest mismatch/);
    expect(await store.list()).toEqual([]);
    expect(await store.layers.list()).toEqual([]);
    expect(await store.blobs.list()).toEqual([]);
  });

  it('a hostile layer in an archive is rejected and touches nothing outside', async () => {
    const victim = path.join(tmp, 'victim');
    await fs.writeFile(victim, 'safe');
    const evil = await tarOf([
      { entry: { name: 'x', type: 'symlink', linkname: tmp } },
      // x/victim resolves inside the layer (as in docker); a hard link through it cannot leave either
      { entry: { name: 'h', type: 'hardlink', linkname: 'x/victim' } },
    ]);
    const arch = await dockerSaveTar([{ image: makeImage([evil]), tags: ['evil:1'] }]);
    await expect(loadArchive(store, once(arch))).rejects.toThrow(/target "x\/victim" is not in this layer/);
    expect(await fs.readFile(victim, 'utf8')).toBe('safe');
    expect(await store.list()).toEqual([]);
  });
});

describe('save', () => {
  it('round-trips through docker-save and OCI readers: same image id, same files', async () => {
    await load(fixture('multilayer.docker.tar'));
    const id = store.get('shoal/multilayer').id;
    const tar = await collect(saveArchive(store, ['shoal/multilayer:latest']));
    const listing = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().split('\n');
    expect(listing).toEqual(expect.arrayContaining(['manifest.json', 'index.json', 'oci-layout']));
    const s2 = await ImageStore.open(path.join(tmp, 'second'));
    const r = await loadArchive(s2, once(tar));
    expect(r.loaded).toEqual([{ ref: 'shoal/multilayer:latest', id }]);
    // the same archive read as an OCI layout only
    const ociOnly = execFileSync(
      'bash',
      ['-c', 'd=$(mktemp -d); cd $d; tar xf -; rm manifest.json; tar cf - .; rm -rf $d'],
      {
        input: tar,
        maxBuffer: 1 << 26,
      },
    );
    const s3 = await ImageStore.open(path.join(tmp, 'third'));
    expect((await loadArchive(s3, once(ociOnly))).loaded).toEqual([{ ref: 'shoal/multilayer:latest', id }]);
    const top = (await s3.rootfs('shoal/multilayer')).layers[0];
    expect(await fs.readFile(path.join(top, 'data/replace'), 'utf8')).toBe('new content\n');
  });

  it('saves an image pulled with gzip layers as uncompressed layers whose digests are the diff-ids', async () => {
    await load(fixture('busybox.oci.tar'));
    const rec = store.get('busybox');
    const tar = await collect(saveArchive(store, ['busybox']));
    const diff = rec.layers[0].diffId.slice(7);
    const layer = execFileSync('tar', ['-xOf', '-', `blobs/sha256/${diff}`], {
      input: tar,
      maxBuffer: 1 << 26,
    });
    expect(sha256Of(layer)).toBe(rec.layers[0].diffId);
  });

  it('names a missing image', async () => {
    await expect(collect(saveArchive(store, ['nope:1']))).rejects.toThrow('No such image: nope:1');
  });
});

describe('import', () => {
  it('imports a rootfs tarball (plain or gzip) as a one-layer image', async () => {
    const raw = await fs.readFile(fixture('busybox-rootfs.tar'));
    const rec = await importRootfs(store, once(gzipSync(raw)), { ref: 'imported:1' });
    expect(rec.layers[0].diffId).toBe(sha256Of(raw));
    expect(store.repoTags(rec.id)).toEqual(['imported:1']);
    const rf = await store.rootfs('imported:1');
    expect((await fs.lstat(path.join(rf.layers[0], 'bin/busybox'))).isFile()).toBe(true);
  });

  it('rejects a malformed tarball and registers nothing', async () => {
    await expect(importRootfs(store, once(Buffer.alloc(4096, 7)), { ref: 'x:1' })).rejects.toThrow(
      /tar: invalid header/,
    );
    await expect(importRootfs(store, once(Buffer.from('x')), { ref: 'Bad' })).rejects.toThrow(
      /must be lowercase/,
    );
    expect(await store.list()).toEqual([]);
    expect(await store.blobs.list()).toEqual([]);
  });
});

describe('tag, rm, prune', () => {
  it('tags, untags and deletes with docker semantics, freeing only unshared layers', async () => {
    await load(fixture('busybox.docker.tar'));
    await load(fixture('multilayer.docker.tar'));
    const bb = store.get('busybox').id;
    expect(await store.tag('busybox', 'mine/bb:v1')).toBe('mine/bb:v1');
    expect(store.repoTags(bb)).toEqual(['busybox:latest', 'mine/bb:v1']);
    // by id with two tags: refused without force
    await expect(store.remove(bb.slice(7, 19))).rejects.toThrow(/referenced in multiple repositories/);
    expect(await store.remove('mine/bb:v1')).toEqual({ untagged: ['mine/bb:v1'], deleted: [] });
    // the shared base layer survives deleting busybox
    const r = await store.remove('busybox');
    expect(r).toEqual({ untagged: ['busybox:latest'], deleted: [bb] });
    expect(await store.layers.list()).toHaveLength(3);
    expect(store.resolve('busybox')).toBeUndefined();
    await expect(store.remove('busybox')).rejects.toThrow('No such image: busybox');
    const ml = store.get('shoal/multilayer');
    await store.remove('shoal/multilayer');
    expect(await store.layers.list()).toEqual([]);
    expect(await store.blobs.list()).toEqual([]);
    expect(ml.id).toMatch(/^sha256:/);
  });

  it('refuses to remove an image a container uses unless forced; force keeps it while in use', async () => {
    await load(fixture('busybox.docker.tar'));
    const id = store.get('busybox').id;
    const inUse = () => true;
    await expect(store.remove('busybox', { inUse })).rejects.toThrow(
      /container is using its referenced image/,
    );
    await expect(store.remove(id, { inUse })).rejects.toThrow(/being used by a container/);
    const r = await store.remove('busybox', { inUse, force: true });
    expect(r).toEqual({ untagged: ['busybox:latest'], deleted: [] });
    expect(store.resolve(id)?.id).toBe(id);
    expect((await store.prune({ inUse })).deleted).toEqual([]);
    const p = await store.prune({ inUse: () => false });
    expect(p.deleted).toEqual([id]);
    expect(p.reclaimed).toBeGreaterThan(1_000_000);
    expect(await store.layers.list()).toEqual([]);
  });

  it('prune removes dangling images only; -a also unused tagged ones', async () => {
    await load(fixture('busybox.docker.tar'));
    await load(fixture('multilayer.docker.tar'));
    expect((await store.prune()).deleted).toEqual([]);
    const pr = await store.prune({ all: true, inUse: (id) => id === store.resolve('busybox')?.id });
    expect(pr.untagged).toEqual(['shoal/multilayer:latest']);
    expect((await store.list()).map((i) => i.repoTags)).toEqual([['busybox:latest']]);
    expect(await store.layers.list()).toHaveLength(1);
  });

  it('persists across reopen', async () => {
    await load(fixture('busybox.docker.tar'));
    await store.tag('busybox', 'again:2');
    const s2 = await ImageStore.open(store.root);
    expect((await s2.list())[0].repoTags).toEqual(['again:2', 'busybox:latest']);
  });
});
