// Layer unpacking: metadata kept, OCI whiteouts seen through a real overlayfs mount, hostile
// tarballs rejected without touching anything outside the layer, bad blobs leave nothing behind.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../common/digest.js';
import { lgetxattr } from '../../worker/engine/native.js';
import { BlobStore } from '../../worker/images/blobstore.js';
import { ingestLayer } from '../../worker/images/ingest.js';
import { LayerStore } from '../../worker/images/layers.js';
import type { TarSource } from '../../worker/images/tar/writer.js';
import { unpackLayer } from '../../worker/images/unpack.js';
import { multiLayerParts, tarOf } from '../fixtures/steps/images-lib.js';

let tmp: string;
const mounts: string[] = [];
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-unpack-'));
});
afterEach(async () => {
  for (const m of mounts.splice(0)) execFileSync('umount', [m]);
  await fs.rm(tmp, { recursive: true, force: true });
});

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function unpackInto(items: TarSource[], name = 'layer'): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir);
  await unpackLayer(once(await tarOf(items)), dir);
  return dir;
}

/** The attribute as text, or null when absent (lgetxattr(2), not following symlinks). */
async function getxattr(p: string, name: string): Promise<string | null> {
  return (await lgetxattr(p, name))?.toString() ?? null;
}

describe('unpackLayer', () => {
  it("drops a replaced entry's mode and owner instead of applying them through a later symlink", async () => {
    const outside = path.join(tmp, 'outside');
    await fs.writeFile(outside, 'x', { mode: 0o600 });
    const dir = await unpackInto([
      { entry: { name: 'x', type: 'file', mode: 0o4777, uid: 1000, gid: 1000 }, body: Buffer.from('x') },
      { entry: { name: 'x', type: 'symlink', linkname: outside } },
      { entry: { name: 'd/', type: 'dir', mode: 0o700, uid: 7, gid: 7 } },
      { entry: { name: 'd/.wh..wh..opq', type: 'file', mode: 0o600 } },
      { entry: { name: 'd/', type: 'dir', mode: 0o750, uid: 8, gid: 8 } },
    ]);
    const st = await fs.stat(outside);
    expect([st.mode & 0o7777, st.uid]).toEqual([0o600, 0]);
    expect(await fs.readlink(path.join(dir, 'x'))).toBe(outside);
    const d = await fs.lstat(path.join(dir, 'd'));
    expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o750, 8, 8]);
    expect(await getxattr(path.join(dir, 'd'), 'trusted.overlay.opaque')).toBe('y');
  });

  it('gives root-owned entries their ids under a set-group-ID directory and after a re-declared owner', async () => {
    const dir = await unpackInto([
      { entry: { name: 'sg/', type: 'dir', mode: 0o2775, uid: 0, gid: 1234 } },
      { entry: { name: 'sg/f', type: 'file', mode: 0o644 }, body: Buffer.from('f') },
      { entry: { name: 'sg/d/', type: 'dir', mode: 0o755 } },
      { entry: { name: 'again/', type: 'dir', mode: 0o755, uid: 1000, gid: 1000 } },
      { entry: { name: 'again/', type: 'dir', mode: 0o755 } },
    ]);
    for (const p of ['sg/f', 'sg/d', 'again']) {
      const st = await fs.lstat(path.join(dir, p));
      expect([p, st.uid, st.gid]).toEqual([p, 0, 0]);
    }
    expect((await fs.lstat(path.join(dir, 'sg'))).gid).toBe(1234);
  });

  it('keeps owners, modes, mtimes, hard links, symlinks, device nodes, fifos and xattrs', async () => {
    const dir = await unpackInto([
      { entry: { name: './', type: 'dir', mode: 0o755, mtime: 1000 } },
      { entry: { name: 'etc/', type: 'dir', mode: 0o700, uid: 7, gid: 8, mtime: 2000 } },
      {
        entry: { name: 'etc/suid', type: 'file', mode: 0o4755, uid: 1000, gid: 1000, mtime: 3000 },
        body: Buffer.from('s'),
      },
      { entry: { name: 'etc/hard', type: 'hardlink', linkname: 'etc/suid' } },
      {
        entry: {
          name: 'etc/sym',
          type: 'symlink',
          linkname: '/nonexistent/target',
          uid: 5,
          gid: 6,
          mtime: 4000,
        },
      },
      { entry: { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: 5000 } },
      { entry: { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 } },
      { entry: { name: 'dev/fifo', type: 'fifo', mode: 0o620 } },
      {
        entry: {
          name: 'cap',
          type: 'file',
          mode: 0o755,
          xattrs: { 'user.note': Buffer.from('hi'), 'trusted.x': Buffer.from('t') },
        },
        body: Buffer.from('bin'),
      },
    ]);
    const suid = await fs.lstat(path.join(dir, 'etc/suid'));
    expect(suid.mode & 0o7777).toBe(0o4755);
    expect([suid.uid, suid.gid, suid.mtimeMs]).toEqual([1000, 1000, 3_000_000]);
    expect(suid.nlink).toBe(2);
    expect((await fs.lstat(path.join(dir, 'etc/hard'))).ino).toBe(suid.ino);
    const etc = await fs.lstat(path.join(dir, 'etc'));
    expect([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs]).toEqual([0o700, 7, 8, 2_000_000]);
    expect((await fs.lstat(dir)).mtimeMs).toBe(1_000_000);
    const sym = await fs.lstat(path.join(dir, 'etc/sym'));
    expect(sym.isSymbolicLink()).toBe(true);
    expect([sym.uid, sym.gid, sym.mtimeMs]).toEqual([5, 6, 4_000_000]);
    expect(await fs.readlink(path.join(dir, 'etc/sym'))).toBe('/nonexistent/target');
    const nul = await fs.lstat(path.join(dir, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect([nul.rdev, nul.mode & 0o7777, nul.mtimeMs]).toEqual([(1 << 8) | 3, 0o666, 5_000_000]);
    const sda = await fs.lstat(path.join(dir, 'dev/sda'));
    expect(sda.isBlockDevice()).toBe(true);
    expect(sda.gid).toBe(6);
    expect((await fs.lstat(path.join(dir, 'dev/fifo'))).isFIFO()).toBe(true);
    expect(await getxattr(path.join(dir, 'cap'), 'user.note')).toBe('hi');
    expect(await getxattr(path.join(dir, 'cap'), 'trusted.x')).toBe('t');
  });

  it('applies whiteouts and opaque directories, as seen through overlayfs', async () => {
    const parts = multiLayerParts();
    const base = await unpackInto([{ entry: { name: 'base', type: 'file' }, body: Buffer.from('b') }], 'l0');
    const lower = await unpackInto(parts.lower, 'l1');
    const upper = await unpackInto(parts.upper, 'l2');
    // in the layer dir: overlay whiteouts (0/0 char devices) and the opaque xattr, no .wh. files
    const wh = await fs.lstat(path.join(upper, 'data/remove'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(await getxattr(path.join(upper, 'opq'), 'trusted.overlay.opaque')).toBe('y');
    await expect(fs.lstat(path.join(upper, 'data/.wh.remove'))).rejects.toThrow(/ENOENT/);
    await expect(fs.lstat(path.join(upper, 'opq/.wh..wh..opq'))).rejects.toThrow(/ENOENT/);

    const mnt = path.join(tmp, 'mnt');
    for (const d of ['mnt', 'u', 'w']) await fs.mkdir(path.join(tmp, d));
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${upper}:${lower}:${base},upperdir=${path.join(tmp, 'u')},workdir=${path.join(tmp, 'w')}`,
      mnt,
    ]);
    mounts.push(mnt);
    expect((await fs.readdir(path.join(mnt, 'data'))).sort()).toEqual([
      'added',
      'hard-keep',
      'keep',
      'link-to-keep',
      'replace',
    ]);
    expect(await fs.readFile(path.join(mnt, 'data/replace'), 'utf8')).toBe('new content\n');
    expect(await fs.readFile(path.join(mnt, 'data/link-to-keep'), 'utf8')).toBe('kept from layer 1\n');
    expect((await fs.readdir(path.join(mnt, 'opq'))).sort()).toEqual(['c']);
    expect(await fs.readFile(path.join(mnt, 'base'), 'utf8')).toBe('b');
    expect((await fs.stat(path.join(mnt, 'data/added'))).mode & 0o777).toBe(0o755);
  });

  it('replaces an earlier entry of the same layer (file by dir, dir by file, link by file)', async () => {
    const dir = await unpackInto([
      { entry: { name: 'a', type: 'file' }, body: Buffer.from('1') },
      { entry: { name: 'a/', type: 'dir' } },
      { entry: { name: 'a/x', type: 'file' }, body: Buffer.from('x') },
      { entry: { name: 'b/', type: 'dir' } },
      { entry: { name: 'b', type: 'file' }, body: Buffer.from('2') },
      { entry: { name: 'c', type: 'symlink', linkname: '/etc/passwd' } },
      { entry: { name: 'c', type: 'file' }, body: Buffer.from('3') },
    ]);
    expect(await fs.readFile(path.join(dir, 'a/x'), 'utf8')).toBe('x');
    expect(await fs.readFile(path.join(dir, 'b'), 'utf8')).toBe('2');
    expect((await fs.lstat(path.join(dir, 'c'))).isFile()).toBe(true);
  });
});

describe('files finished in the background', () => {
  it('gives every file its time after its last write, and a late write error fails the unpack', async () => {
    // many files, each written while the next entries are made: their times must come after the data
    const items: TarSource[] = [{ entry: { name: 'd/', type: 'dir', mtime: 100 } }];
    for (let i = 0; i < 40; i++)
      items.push({
        entry: { name: `d/f${i}`, type: 'file', mtime: 1000 + i },
        body: Buffer.alloc(300_000, i),
      });
    items.push({ entry: { name: 'd/link', type: 'hardlink', linkname: 'd/f39' } });
    // metadata batches of two paths: times go out while later files are still being written
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    await unpackLayer(once(await tarOf(items)), dir, { batch: 2 });
    for (let i = 0; i < 40; i++) {
      const st = await fs.stat(path.join(dir, `d/f${i}`));
      expect([st.size, st.mtimeMs]).toEqual([300_000, (1000 + i) * 1000]);
    }
    expect((await fs.stat(path.join(dir, 'd/link'))).nlink).toBe(2);
    expect((await fs.stat(path.join(dir, 'd'))).mtimeMs).toBe(100_000);

    // a file system too small for the layer: a write fails after its entry was left behind
    const mnt = path.join(tmp, 'small');
    await fs.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    mounts.push(mnt);
    await expect(unpackLayer(once(await tarOf(items)), mnt)).rejects.toMatchObject({ code: 'ENOSPC' });
    // every descriptor under it closed before the rejection (umount in afterEach would fail as busy)
    const fds = await fs.readdir('/proc/self/fd');
    const open = await Promise.all(fds.map((f) => fs.readlink(`/proc/self/fd/${f}`).catch(() => '')));
    expect(open.filter((t) => t.startsWith(mnt))).toEqual([]);
  });
});

describe('symlinked parents (resolved inside the layer, as docker does)', () => {
  it('writes through lib -> usr/lib, an absolute link and a chain of links', async () => {
    const dir = await unpackInto([
      { entry: { name: 'usr/lib/', type: 'dir' } },
      { entry: { name: 'lib', type: 'symlink', linkname: 'usr/lib' } },
      { entry: { name: 'lib/libfoo.so', type: 'file', mode: 0o755, mtime: 7 }, body: Buffer.from('so') },
      { entry: { name: 'bin', type: 'symlink', linkname: '/usr/bin' } },
      { entry: { name: 'bin/sh', type: 'file', mode: 0o755 }, body: Buffer.from('sh') },
      { entry: { name: 'a', type: 'symlink', linkname: 'b' } },
      { entry: { name: 'b', type: 'symlink', linkname: '/./c/..//d' } },
      { entry: { name: 'c/', type: 'dir' } },
      { entry: { name: 'd', type: 'symlink', linkname: 'e/f' } },
      { entry: { name: 'a/x/', type: 'dir', mode: 0o711 } },
      { entry: { name: 'a/x/y', type: 'file' }, body: Buffer.from('y') },
      { entry: { name: 'hl', type: 'hardlink', linkname: 'lib/libfoo.so' } },
      { entry: { name: 'lib/.wh.gone', type: 'file' } },
      { entry: { name: 'lib/sub/.wh..wh..opq', type: 'file' } },
    ]);
    const so = await fs.lstat(path.join(dir, 'usr/lib/libfoo.so'));
    expect([so.mode & 0o7777, so.mtimeMs, so.nlink]).toEqual([0o755, 7000, 2]);
    expect((await fs.lstat(path.join(dir, 'hl'))).ino).toBe(so.ino);
    expect((await fs.lstat(path.join(dir, 'lib'))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(path.join(dir, 'usr/bin/sh'), 'utf8')).toBe('sh');
    expect((await fs.lstat(path.join(dir, 'e/f/x'))).mode & 0o7777).toBe(0o711);
    expect(await fs.readFile(path.join(dir, 'e/f/x/y'), 'utf8')).toBe('y');
    const wh = await fs.lstat(path.join(dir, 'usr/lib/gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(await getxattr(path.join(dir, 'usr/lib/sub'), 'trusted.overlay.opaque')).toBe('y');
    expect((await fs.readdir(dir)).sort()).toEqual(['a', 'b', 'bin', 'c', 'd', 'e', 'hl', 'lib', 'usr']);
  });

  it('replaces a symlink named as the final component instead of following it', async () => {
    const dir = await unpackInto([
      { entry: { name: 'real/', type: 'dir' } },
      { entry: { name: 'real/keep', type: 'file' }, body: Buffer.from('k') },
      { entry: { name: 'l', type: 'symlink', linkname: 'real' } },
      { entry: { name: 'l/', type: 'dir', mode: 0o700 } },
      { entry: { name: 'l/new', type: 'file' }, body: Buffer.from('n') },
    ]);
    expect((await fs.lstat(path.join(dir, 'l'))).isDirectory()).toBe(true);
    expect(await fs.readdir(path.join(dir, 'real'))).toEqual(['keep']);
    expect(await fs.readFile(path.join(dir, 'l/new'), 'utf8')).toBe('n');
  });
});

describe('bounded batches and caches', () => {
  it('gets every mode, owner and directory time right with tiny batches and caches', async () => {
    const items: TarSource[] = [{ entry: { name: './', type: 'dir', mtime: 1 } }];
    for (let d = 0; d < 12; d++) {
      items.push({ entry: { name: `d${d}/`, type: 'dir', mode: 0o750, uid: d, mtime: 100 + d } });
      for (let i = 0; i < 5; i++)
        items.push({
          entry: { name: `d${d}/f${i}`, type: 'file', mode: 0o600 + i, uid: 1000 + i, mtime: 1000 + i },
          body: Buffer.from(`${d}/${i}`),
        });
    }
    // out of order: back into directories whose time was applied early, and a replaced one
    items.push({ entry: { name: 'd0/late', type: 'file' }, body: Buffer.from('l') });
    items.push({ entry: { name: 'd1/.wh.f0', type: 'file' } });
    items.push({ entry: { name: 'd2/f1', type: 'symlink', linkname: '/etc/passwd' } });
    items.push({ entry: { name: 'd3', type: 'file', mtime: 5 }, body: Buffer.from('3') });
    items.push({ entry: { name: 'd4/sub/', type: 'dir', mtime: 44 } });
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    await unpackLayer(once(await tarOf(items)), dir, { batch: 3, parents: 2, dirTimes: 4 });
    for (let d = 0; d < 12; d++) {
      const st = await fs.lstat(path.join(dir, `d${d}`));
      if (d === 3) {
        expect([st.isFile(), st.mtimeMs]).toEqual([true, 5000]);
        continue;
      }
      expect([d, st.mode & 0o7777, st.uid, st.mtimeMs]).toEqual([d, 0o750, d, (100 + d) * 1000]);
      for (let i = 0; i < 5; i++) {
        const f = await fs.lstat(path.join(dir, `d${d}/f${i}`));
        if ((d === 1 || d === 2) && i === (d === 1 ? 0 : 1)) continue;
        expect([d, i, f.mode & 0o7777, f.uid, f.mtimeMs]).toEqual([
          d,
          i,
          0o600 + i,
          1000 + i,
          (1000 + i) * 1000,
        ]);
      }
    }
    expect((await fs.lstat(path.join(dir, 'd1/f0'))).isCharacterDevice()).toBe(true);
    expect(await fs.readlink(path.join(dir, 'd2/f1'))).toBe('/etc/passwd');
    expect((await fs.lstat(path.join(dir, 'd4/sub'))).mtimeMs).toBe(44_000);
    expect((await fs.lstat(dir)).mtimeMs).toBe(1000);
  });
});

describe('hostile layers', () => {
  const outsideFile = () => path.join(tmp, 'outside', 'victim');

  beforeEach(async () => {
    await fs.mkdir(path.join(tmp, 'outside'));
    await fs.writeFile(outsideFile(), 'untouched');
  });

  async function expectRejected(items: TarSource[], msg: RegExp) {
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    await expect(unpackLayer(once(await tarOf(items)), dir)).rejects.toThrow(msg);
    expect(await fs.readFile(outsideFile(), 'utf8')).toBe('untouched');
    expect(await fs.readdir(path.join(tmp, 'outside'))).toEqual(['victim']);
  }

  const f = (name: string): TarSource => ({ entry: { name, type: 'file' }, body: Buffer.from('pwned') });

  it('rejects ../ paths', () =>
    expectRejected([f('../outside/victim')], /entry "\.\.\/outside\/victim": path escapes the layer/));
  it('rejects ../ hidden in the middle', () =>
    expectRejected([f('a/../../outside/victim')], /path escapes the layer/));
  it('rejects absolute paths', () => expectRejected([f(`${tmp}/outside/victim`)], /absolute path/));
  /** Unpacks items, which must succeed, and checks nothing outside the layer changed. */
  async function expectContained(items: TarSource[]): Promise<string> {
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    await unpackLayer(once(await tarOf(items)), dir);
    expect(await fs.readFile(outsideFile(), 'utf8')).toBe('untouched');
    expect(await fs.readdir(path.join(tmp, 'outside'))).toEqual(['victim']);
    return dir;
  }

  it('resolves a write through an absolute symlink to the host outside inside the layer root', async () => {
    const dir = await expectContained([
      { entry: { name: 'sym', type: 'symlink', linkname: path.join(tmp, 'outside') } },
      f('sym/victim'),
    ]);
    expect(await fs.readFile(path.join(dir, tmp, 'outside/victim'), 'utf8')).toBe('pwned');
    expect(await fs.readlink(path.join(dir, 'sym'))).toBe(path.join(tmp, 'outside'));
  });
  it('clamps a relative symlink climbing out at the layer root', async () => {
    const dir = await expectContained([
      { entry: { name: 'up', type: 'symlink', linkname: '../outside' } },
      f('up/new'),
    ]);
    expect(await fs.readFile(path.join(dir, 'outside/new'), 'utf8')).toBe('pwned');
  });
  it('creates a directory through a symlink inside the layer root', async () => {
    const dir = await expectContained([
      { entry: { name: 'sym', type: 'symlink', linkname: path.join(tmp, 'outside') } },
      { entry: { name: 'sym/d/', type: 'dir', mode: 0o700 } },
    ]);
    expect((await fs.lstat(path.join(dir, tmp, 'outside/d'))).mode & 0o7777).toBe(0o700);
  });
  it('resolves "/../../etc" inside the root, never touching the host /etc', async () => {
    const probe = `shoal-unpack-probe-${process.pid}-${path.basename(tmp)}`;
    const dir = await expectContained([
      { entry: { name: 'hostetc', type: 'symlink', linkname: '/../../etc' } },
      { entry: { name: `hostetc/${probe}`, type: 'file', mode: 0o644 }, body: Buffer.from('x') },
      { entry: { name: 'deep', type: 'symlink', linkname: `${'../'.repeat(30)}${tmp}/outside/victim/..` } },
      f('deep/victim'),
    ]);
    await expect(fs.lstat(path.join('/etc', probe))).rejects.toThrow(/ENOENT/);
    expect(await fs.readFile(path.join(dir, 'etc', probe), 'utf8')).toBe('x');
    expect((await fs.lstat(path.join(dir, 'hostetc'))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(path.join(dir, tmp, 'outside/victim'), 'utf8')).toBe('pwned');
    await fs.rm(dir, { recursive: true });
    // named "etc" itself, "/../../etc" is the link again: a loop, refused
    await expectRejected(
      [{ entry: { name: 'etc', type: 'symlink', linkname: '/../../etc' } }, f('etc/passwd')],
      /entry "etc\/passwd": too many levels of symbolic links/,
    );
    await expect(fs.readFile('/etc/passwd', 'utf8')).resolves.not.toContain('pwned');
  });
  it("never applies a replaced directory's time through the symlink that replaced it", async () => {
    const before = (await fs.lstat(outsideFile())).mtimeMs;
    const dir = await expectContained([
      { entry: { name: 'd/', type: 'dir', mtime: 12345 } },
      { entry: { name: 'd', type: 'symlink', linkname: outsideFile() } },
    ]);
    expect((await fs.lstat(outsideFile())).mtimeMs).toBe(before);
    expect(await fs.readlink(path.join(dir, 'd'))).toBe(outsideFile());
  });
  it('rejects a name longer than PATH_MAX and unpacks a deep one', async () => {
    await expectRejected([f(`${'a/'.repeat(2048)}x`)], /name longer than 4096 bytes/);
    await fs.rm(path.join(tmp, 'layer'), { recursive: true });
    const deep = `${'d/'.repeat(900)}f`;
    const dir = await expectContained([f(deep)]);
    expect(await fs.readFile(path.join(dir, deep), 'utf8')).toBe('pwned');
  });
  it('rejects a symlink loop with a clear error', () =>
    expectRejected(
      [
        { entry: { name: 'a', type: 'symlink', linkname: 'b' } },
        { entry: { name: 'b', type: 'symlink', linkname: '/a' } },
        f('a/x'),
      ],
      /entry "a\/x": too many levels of symbolic links \(a loop\?\) at "(a|b)"/,
    ));
  it('rejects a symlink to itself and a parent that is a file', async () => {
    await expectRejected(
      [{ entry: { name: 's', type: 'symlink', linkname: 's/x' } }, f('s/y')],
      /too many levels of symbolic links/,
    );
    await fs.rm(path.join(tmp, 'layer'), { recursive: true });
    await expectRejected(
      [f('file'), { entry: { name: 'l', type: 'symlink', linkname: 'file' } }, f('l/x')],
      /entry "l\/x": "file" is not a directory/,
    );
  });
  it('rejects hard links through a symlink leaving the layer', () =>
    expectRejected(
      [
        { entry: { name: 'sym', type: 'symlink', linkname: path.join(tmp, 'outside') } },
        { entry: { name: 'h', type: 'hardlink', linkname: 'sym/victim' } },
      ],
      /hard link "h": target "sym\/victim" is not in this layer/,
    ));
  it('rejects hard links to files outside the layer', () =>
    expectRejected(
      [{ entry: { name: 'h', type: 'hardlink', linkname: '../outside/victim' } }],
      /hard link "h" -> target.*escapes the layer/,
    ));
  it('rejects hard links with absolute targets', () =>
    expectRejected([{ entry: { name: 'h', type: 'hardlink', linkname: outsideFile() } }], /absolute path/));
  it('rejects hard links to files not in the layer', () =>
    expectRejected(
      [{ entry: { name: 'h', type: 'hardlink', linkname: 'nope' } }],
      /target "nope" is not in this layer/,
    ));
  it('rejects whiteouts that climb out', () =>
    expectRejected([f('.wh...')], /invalid whiteout name|escapes/));
  it('drops trusted.overlay.* xattrs from the tar (no forged redirects or opaque dirs)', async () => {
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    const x = (v: string) => Buffer.from(v);
    await unpackLayer(
      once(
        await tarOf([
          {
            entry: {
              name: 'd/',
              type: 'dir',
              xattrs: { 'trusted.overlay.opaque': x('y'), 'trusted.overlay.redirect': x('/etc') },
            },
          },
          {
            entry: {
              name: 'f',
              type: 'file',
              xattrs: { 'trusted.overlay.metacopy': x(''), 'user.ok': x('1') },
            },
            body: x('f'),
          },
        ]),
      ),
      dir,
    );
    expect(await getxattr(path.join(dir, 'd'), 'trusted.overlay.opaque')).toBeNull();
    expect(await getxattr(path.join(dir, 'd'), 'trusted.overlay.redirect')).toBeNull();
    expect(await getxattr(path.join(dir, 'f'), 'trusted.overlay.metacopy')).toBeNull();
    expect(await getxattr(path.join(dir, 'f'), 'user.ok')).toBe('1');
  });

  it('does not follow a symlink as the final component (replaces the link instead)', async () => {
    const dir = path.join(tmp, 'layer');
    await fs.mkdir(dir);
    await unpackLayer(
      once(
        await tarOf([{ entry: { name: 'victim', type: 'symlink', linkname: outsideFile() } }, f('victim')]),
      ),
      dir,
    );
    expect(await fs.readFile(outsideFile(), 'utf8')).toBe('untouched');
    expect(await fs.readFile(path.join(dir, 'victim'), 'utf8')).toBe('pwned');
  });
});

describe('ingestLayer', () => {
  async function stores() {
    const blobs = new BlobStore(path.join(tmp, 'store'));
    await blobs.init();
    const layers = new LayerStore(path.join(tmp, 'store'));
    await layers.init();
    return { blobs, layers };
  }
  const layerTar = () => tarOf([{ entry: { name: 'hello', type: 'file' }, body: Buffer.from('world') }]);

  it('stores the blob and the layer once both digests match', async () => {
    const { blobs, layers } = await stores();
    const tar = await layerTar();
    const gz = gzipSync(tar);
    const r = await ingestLayer(blobs, layers, once(gz), {
      digest: sha256Of(gz),
      size: gz.length,
      diffId: sha256Of(tar),
    });
    expect(r.diffId).toBe(sha256Of(tar));
    expect(await blobs.has(sha256Of(gz))).toBe(true);
    expect(await fs.readFile(path.join(layers.diffDir(r.diffId), 'hello'), 'utf8')).toBe('world');
  });

  it.each([
    [
      'a wrong blob digest',
      (_gz: Buffer, tar: Buffer) => ({ digest: sha256Of(Buffer.from('x')), diffId: sha256Of(tar) }),
      /digest mismatch/,
    ],
    [
      'a wrong diff-id',
      (gz: Buffer) => ({ digest: sha256Of(gz), diffId: sha256Of(Buffer.from('y')) }),
      /diff-id \(uncompressed\): digest mismatch/,
    ],
    [
      'a wrong size',
      (gz: Buffer, tar: Buffer) => ({ digest: sha256Of(gz), size: gz.length + 1, diffId: sha256Of(tar) }),
      /size mismatch/,
    ],
  ])('leaves nothing behind on %s', async (_what, expect_, msg) => {
    const { blobs, layers } = await stores();
    const tar = await layerTar();
    const gz = gzipSync(tar);
    await expect(ingestLayer(blobs, layers, once(gz), expect_(gz, tar))).rejects.toThrow(msg);
    expect(await blobs.list()).toEqual([]);
    expect(await layers.list()).toEqual([]);
    expect(await fs.readdir(layers.dir)).toEqual([]);
    expect(await fs.readdir(blobs.tmpDir)).toEqual([]);
  });

  it('leaves nothing behind on a truncated blob or a hostile layer', async () => {
    const { blobs, layers } = await stores();
    const gz = gzipSync(await layerTar());
    await expect(ingestLayer(blobs, layers, once(gz.subarray(0, gz.length - 12)), {})).rejects.toThrow(
      /truncated/,
    );
    const evil = gzipSync(
      await tarOf([{ entry: { name: '../evil', type: 'file' }, body: Buffer.from('x') }]),
    );
    await expect(ingestLayer(blobs, layers, once(evil), {})).rejects.toThrow(/escapes the layer/);
    expect(await blobs.list()).toEqual([]);
    expect(await fs.readdir(layers.dir)).toEqual([]);
    expect(await fs.readdir(blobs.tmpDir)).toEqual([]);
  });
});
