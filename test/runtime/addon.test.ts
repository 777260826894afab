import { spawnSync } from 'node:child_process';
// The addon through its one typed face, worker/engine/native.ts: async create and verbs,
// probe, the file ops Node lacks (mknod, xattrs), and native failures turned into typed errors.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../worker/engine/errors.js';
import {
  applyFileOps,
  FileOpError,
  lgetxattr,
  lsetxattr,
  mknod,
  probe,
  RuntimeError,
  runtimeCreate,
  runtimePath,
  runtimeRun,
  runtimeVerb,
} from '../../worker/engine/native.js';
import { writeSmallFiles } from '../../worker/engine/small-files.js';
import { ensureFixtures, leftovers, RUNTIME, Sandbox, until } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

describe('shoal_native addon', () => {
  it('probes the machine and finds the runtime next to itself', () => {
    const p = probe();
    expect(['v1', 'v2', 'hybrid']).toContain(p.cgroup);
    expect(p.seccomp).toBe(true);
    expect(p.overlay).toBe(true);
    expect(runtimePath()).toBe(RUNTIME);
  });

  it('creates, starts, inspects and deletes through async calls', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '1000']);
    const pending = runtimeCreate(['--root', sb.root, 'create', '--bundle', bundle, id]);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    await runtimeVerb(['--root', sb.root, 'start', id]);
    const state = JSON.parse(await runtimeVerb(['--root', sb.root, 'state', id]));
    expect(state.status).toBe('running');
    const out = await runtimeRun(['--root', sb.root, 'delete', id]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/not stopped/);
    await runtimeVerb(['--root', sb.root, 'delete', '--force', id]);
    await until(() => leftovers(sb, id).length === 0);
  });

  it('turns runtime failures into typed errors', async () => {
    sb = new Sandbox();
    const missing = sb.bundle(['definitely-not-here']);
    const err = await runtimeCreate([
      '--root',
      sb.root,
      'create',
      '--bundle',
      missing.bundle,
      missing.id,
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.runtimeKind).toBe('exec-not-found');
    expect(err.message).toBe('exec "definitely-not-here": executable file not found in $PATH');
    expect(err.exitCode).toBe(1);
    expect(leftovers(sb, missing.id)).toEqual([]);

    const badCap = sb.bundle(['true'], (s) => {
      s.process.capabilities!.bounding = ['CAP_NOPE'];
    });
    const e2 = await runtimeCreate(['--root', sb.root, 'create', '--bundle', badCap.bundle, badCap.id]).catch(
      (e) => e,
    );
    expect(e2.runtimeKind).toBe('invalid-spec');
    expect(e2.kind).toBe('invalid_argument');

    const e3 = await runtimeVerb(['--root', sb.root, 'kill', 'no-such-container']).catch((e) => e);
    expect(e3.runtimeKind).toBe('not-found');
    expect(e3.kind).toBe('not_found');
  });
});

describe('file ops the layer unpacker needs', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('makes device nodes and fifos with owner, mode and times, and sets binary xattrs', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-fileops-'));
    const tty = path.join(dir, 'tty');
    const pending = applyFileOps([
      { op: 'mknod', path: tty, mode: fs.constants.S_IFCHR | 0o600, major: 5, minor: 0 },
      { op: 'lchown', path: tty, uid: 1000, gid: 5 },
      { op: 'chmod', path: tty, mode: 0o620 },
      { op: 'lutimes', path: tty, atime: 1500, mtime: 1700000000.5 },
      { op: 'lsetxattr', path: tty, name: 'trusted.overlay.opaque', value: Buffer.from('y') },
      // user.* is for regular files and directories only (the kernel answers EPERM on a device)
      { op: 'lsetxattr', path: dir, name: 'user.bin', value: Buffer.from([0, 1, 255]) },
    ]);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    const st = await fs.lstat(tty, { bigint: true });
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(BigInt((5 << 8) | 0));
    expect(st.mode & 0o7777n).toBe(0o620n);
    expect([st.uid, st.gid]).toEqual([1000n, 5n]);
    expect(st.mtimeNs).toBe(1700000000500000000n);
    expect(st.atimeNs).toBe(1500000000000n);
    expect(await lgetxattr(tty, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(await lgetxattr(dir, 'user.bin')).toEqual(Buffer.from([0, 1, 255]));
    expect(await lgetxattr(tty, 'user.absent')).toBeNull();

    await mknod(path.join(dir, 'whiteout'), fs.constants.S_IFCHR);
    const wh = await fs.lstat(path.join(dir, 'whiteout'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    await mknod(path.join(dir, 'sda'), fs.constants.S_IFBLK | 0o660, 8, 1);
    expect((await fs.lstat(path.join(dir, 'sda'))).rdev).toBe((8 << 8) | 1);
    await mknod(path.join(dir, 'fifo'), fs.constants.S_IFIFO | 0o644);
    expect((await fs.lstat(path.join(dir, 'fifo'))).isFIFO()).toBe(true);

    // the l- calls act on a symlink itself, never on what it points to
    await fs.symlink('tty', path.join(dir, 'link'));
    await lsetxattr(path.join(dir, 'link'), 'trusted.on-link', Buffer.from('1'));
    expect(await lgetxattr(path.join(dir, 'link'), 'trusted.on-link')).toEqual(Buffer.from('1'));
    expect(await lgetxattr(tty, 'trusted.on-link')).toBeNull();
  });

  it('names errno, syscall and path when a syscall fails, keeping the ops before it', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-fileops-'));
    const missing = path.join(dir, 'no-such-dir/dev/foo');
    const err = await applyFileOps([
      { op: 'mknod', path: path.join(dir, 'first'), mode: fs.constants.S_IFIFO | 0o600 },
      { op: 'mknod', path: missing, mode: fs.constants.S_IFCHR | 0o600, major: 1, minor: 3 },
      { op: 'mknod', path: path.join(dir, 'never'), mode: fs.constants.S_IFIFO | 0o600 },
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(FileOpError);
    expect(err.message).toBe(`ENOENT mknod ${missing}: no such file or directory`);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'mknod', path: missing, index: 1 });
    expect(err.errno).toBe(-2);
    expect((await fs.readdir(dir)).sort()).toEqual(['first']);

    await fs.writeFile(path.join(dir, 'file'), '');
    const exists = await mknod(path.join(dir, 'file'), fs.constants.S_IFIFO | 0o600).catch((e) => e);
    expect(exists.message).toMatch(/^EEXIST mknod .*\/file: file already exists$/);
    const gone = await lgetxattr(path.join(dir, 'gone'), 'user.x').catch((e) => e);
    expect(gone).toMatchObject({ code: 'ENOENT', syscall: 'lgetxattr', path: path.join(dir, 'gone') });
  });

  it('writes small files in one call: mkdir (an existing one too), writeFile, rename over a file', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-fileops-'));
    const sub = path.join(dir, 'sub');
    await fs.writeFile(path.join(dir, 'rec'), 'old');
    await applyFileOps([
      { op: 'mkdir', path: sub, mode: 0o750 },
      { op: 'mkdir', path: sub, mode: 0o750 },
      { op: 'writeFile', path: path.join(sub, 'a'), value: Buffer.from('first, longer'), mode: 0o600 },
      { op: 'writeFile', path: path.join(sub, 'a'), value: Buffer.from('second'), mode: 0o644 },
      { op: 'writeFile', path: path.join(dir, '.rec.tmp'), value: Buffer.from('new'), mode: 0o644 },
      { op: 'rename', path: path.join(dir, '.rec.tmp'), to: path.join(dir, 'rec') },
    ]);
    expect((await fs.stat(sub)).isDirectory()).toBe(true);
    // truncated on rewrite; the mode is the one it was created with
    expect(await fs.readFile(path.join(sub, 'a'), 'utf8')).toBe('second');
    expect((await fs.stat(path.join(sub, 'a'))).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(path.join(dir, 'rec'), 'utf8')).toBe('new');
    expect((await fs.readdir(dir)).sort()).toEqual(['rec', 'sub']);

    await writeSmallFiles(
      [
        { path: path.join(dir, 'two', 'hosts'), data: '127.0.0.1 localhost\n' },
        { path: path.join(dir, 'rec'), data: '{"v":2}', atomic: true },
      ],
      path.join(dir, 'two'),
    );
    expect(await fs.readFile(path.join(dir, 'two', 'hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
    expect(await fs.readFile(path.join(dir, 'rec'), 'utf8')).toBe('{"v":2}');
    expect((await fs.readdir(dir)).sort()).toEqual(['rec', 'sub', 'two']);

    // a file where a directory is asked for, a symlink where a file is written, a missing source: refused
    const notDir = await applyFileOps([{ op: 'mkdir', path: path.join(dir, 'rec'), mode: 0o755 }]).catch(
      (e) => e,
    );
    expect(notDir).toMatchObject({ code: 'EEXIST', syscall: 'mkdir', index: 0 });
    await fs.symlink('rec', path.join(dir, 'link'));
    const viaLink = await applyFileOps([
      { op: 'writeFile', path: path.join(dir, 'link'), value: Buffer.from('x'), mode: 0o644 },
    ]).catch((e) => e);
    expect(viaLink).toMatchObject({ code: 'ELOOP', syscall: 'open' });
    expect(await fs.readFile(path.join(dir, 'rec'), 'utf8')).toBe('{"v":2}');
    const gone = await applyFileOps([
      { op: 'rename', path: path.join(dir, 'absent'), to: path.join(dir, 'rec') },
    ]).catch((e) => e);
    expect(gone).toMatchObject({ code: 'ENOENT', syscall: 'rename', path: path.join(dir, 'absent') });
  });

  it('marks a directory as the top of a hierarchy (FS_TOPDIR_FL), refusing a file or a symlink', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-fileops-'));
    const flags = (p: string) => spawnSync('lsattr', ['-d', p], { encoding: 'utf8' });
    // the flag belongs to ext2/3/4; on another file system the ioctl's own error comes back
    const supported = flags(dir).status === 0;
    const sub = path.join(dir, 'layers');
    await fs.mkdir(sub);
    const done = await applyFileOps([{ op: 'spreadSubdirs', path: sub }]).then(
      () => null,
      (e) => e,
    );
    if (supported) {
      expect(done).toBeNull();
      expect(flags(sub).stdout.split(' ')[0]).toContain('T');
      expect(flags(dir).stdout.split(' ')[0]).not.toContain('T');
      await applyFileOps([{ op: 'spreadSubdirs', path: sub }]); // already set: nothing to do
    } else expect(done).toMatchObject({ syscall: 'ioctl' });
    await fs.writeFile(path.join(dir, 'file'), '');
    await fs.symlink('layers', path.join(dir, 'link'));
    // O_NOFOLLOW with O_DIRECTORY: a symlink is "not a directory", never followed
    for (const [name, code] of [
      ['file', 'ENOTDIR'],
      ['link', 'ENOTDIR'],
    ])
      await expect(applyFileOps([{ op: 'spreadSubdirs', path: path.join(dir, name) }])).rejects.toMatchObject(
        {
          code,
          syscall: 'open',
        },
      );
  });

  it('rejects a malformed op with a TypeError naming it, before touching anything', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-fileops-'));
    const ok = { op: 'mknod' as const, path: path.join(dir, 'ok'), mode: fs.constants.S_IFIFO | 0o600 };
    const cases: [unknown, string][] = [
      [
        { op: 'mknod', path: path.join(dir, 'reg'), mode: 0o100644 },
        'ops[1].mode: must be S_IFCHR, S_IFBLK or S_IFIFO plus permission bits',
      ],
      [
        { op: 'mknod', path: path.join(dir, 'big'), mode: fs.constants.S_IFCHR, major: 4096 },
        'ops[1].major: must be an integer from 0 to 4095',
      ],
      [
        { op: 'lchown', path: path.join(dir, 'x'), uid: -1, gid: 0 },
        'ops[1].uid: must be an integer from 0 to 4294967294',
      ],
      [
        { op: 'chmod', path: path.join(dir, 'x'), mode: 0o10000 },
        'ops[1].mode: must be an integer from 0 to 4095',
      ],
      [
        { op: 'lutimes', path: path.join(dir, 'x'), atime: 0, mtime: Number.NaN },
        'ops[1].mtime: must be a finite number of seconds',
      ],
      [
        { op: 'lsetxattr', path: path.join(dir, 'x'), name: 'user.a', value: 'text' },
        'ops[1].value: must be a Buffer',
      ],
      [
        { op: 'lsetxattr', path: `${dir}/a\0b`, name: 'user.a', value: Buffer.alloc(0) },
        'ops[1].path: must not contain NUL',
      ],
      [
        { op: 'unlink', path: path.join(dir, 'x') },
        'ops[1].op: must be one of mknod, lchown, chmod, lutimes, lsetxattr, mountTmpfs, umount, mkdir, writeFile, rename, spreadSubdirs',
      ],
      [
        { op: 'writeFile', path: path.join(dir, 'x'), value: 'text', mode: 0o644 },
        'ops[1].value: must be a Buffer',
      ],
      [
        { op: 'writeFile', path: path.join(dir, 'x'), value: Buffer.alloc(1) },
        'ops[1].mode: must be an integer from 0 to 4095',
      ],
      [{ op: 'rename', path: path.join(dir, 'x') }, 'ops[1].to: must be a string'],
      [
        { op: 'mkdir', path: path.join(dir, 'd'), mode: 0o10000 },
        'ops[1].mode: must be an integer from 0 to 4095',
      ],
    ];
    for (const [bad, message] of cases) {
      const err = await applyFileOps([ok, bad as never]).catch((e) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toBe(`applyFileOps: ${message}`);
    }
    expect(await fs.readdir(dir)).toEqual([]);
  });
});
