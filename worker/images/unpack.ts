// Applies one layer tar to an empty directory, producing an overlayfs lower dir: OCI whiteouts become
// overlay whiteouts (0/0 char devices), opaque markers become trusted.overlay.opaque=y.
//
// Safety: every path is resolved component by component from the layer root with lstat, never
// following a symlink, and a symlink in a parent position is an error. Absolute names, "..", and
// hard links leaving the layer are rejected. Only this code writes into the fresh layer directory,
// so nothing can swap a component between the check and the use.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { applyPrivilegedOps, type PrivOp } from './privileged-ops.js';
import type { TarEntry } from './tar/header.js';
import { readTar } from './tar/reader.js';

export class UnsafeLayerError extends Error {}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';
const S_ISGID = 0o2000; // not in fs.constants

/** Splits a tar name into safe components, or throws. "" (the root itself) gives []. */
export function safeComponents(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw new UnsafeLayerError(`${what} "${name}": NUL byte in path`);
  if (name.startsWith('/')) throw new UnsafeLayerError(`${what} "${name}": absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(`${what} "${name}": path escapes the layer ("..")`);
  return parts;
}

export interface UnpackStats {
  files: number;
  bytes: number;
}

/** What a fresh layer directory lets the unpacker skip; anything unusual turns the shortcuts off. */
async function shortcutsFor(dest: string): Promise<{ fresh: boolean; ownIds: boolean }> {
  const [st, names] = await Promise.all([fs.stat(dest), fs.readdir(dest)]);
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  return {
    // nothing there yet: a path this unpack did not create does not exist
    fresh: names.length === 0,
    // new files get our ids unless a set-group-ID directory hands down its group
    ownIds: uid !== undefined && gid !== undefined && (st.mode & S_ISGID) === 0,
  };
}

export async function unpackLayer(tar: AsyncIterable<Buffer>, dest: string): Promise<UnpackStats> {
  const stats: UnpackStats = { files: 0, bytes: 0 };
  // ops applied in one batch at the end, by path: replacing or removing a path drops its ops, so
  // a chmod (which follows symlinks) never reaches whatever a later entry put there
  const deferred = new Map<string, PrivOp[]>();
  const defer = (op: PrivOp) => {
    const ops = deferred.get(op.path);
    if (ops) ops.push(op);
    else deferred.set(op.path, [op]);
  };
  const dirTimes = new Map<string, number>();
  const knownDirs = new Set<string>([dest]);
  // Per-entry syscalls are most of a small-file layer's cost. In a fresh directory only paths this
  // unpack created can exist, so a miss in `created` needs no lstat (whose ENOENT error is costly).
  const shortcut = await shortcutsFor(dest);
  const created = new Set<string>();
  const mayExist = (p: string) => !shortcut.fresh || created.has(p);
  // paths created here that still carry this process's uid/gid: lchown to those ids is a no-op
  const ownIds = new Set<string>();
  const madeHere = (p: string, inode: 'new' | 'linked' = 'new') => {
    created.add(p);
    if (inode === 'new' && shortcut.ownIds) ownIds.add(p);
    else ownIds.delete(p);
  };

  /** Walks to parts' directory, creating missing directories, refusing symlinks and non-directories. */
  async function ensureDir(parts: string[], entryName: string): Promise<string> {
    let cur = dest;
    for (const p of parts) {
      const next = path.join(cur, p);
      if (!knownDirs.has(next)) {
        const st = mayExist(next) ? await fs.lstat(next).catch(() => null) : null;
        if (!st) {
          await fs.mkdir(next, 0o755);
          madeHere(next);
        } else if (st.isSymbolicLink()) {
          throw new UnsafeLayerError(
            `entry "${entryName}": parent "${path.relative(dest, next)}" is a symlink; refusing to write through it`,
          );
        } else if (!st.isDirectory()) {
          throw new UnsafeLayerError(
            `entry "${entryName}": parent "${path.relative(dest, next)}" is not a directory`,
          );
        }
        knownDirs.add(next);
      }
      cur = next;
    }
    return cur;
  }

  /** Makes room for a new entry at target, unless it is a directory and the new entry is one too. */
  async function clear(target: string, keepDir: boolean): Promise<boolean> {
    const st = mayExist(target) ? await fs.lstat(target).catch(() => null) : null;
    if (st?.isDirectory() && keepDir) return true;
    deferred.delete(target); // the old entry's pending ops (a device node not made yet, its mode, …)
    if (!st) return false;
    if (st.isDirectory()) {
      await fs.rm(target, { recursive: true, force: true });
      for (const p of deferred.keys()) if (p.startsWith(`${target}/`)) deferred.delete(p);
      for (const d of knownDirs) if (d === target || d.startsWith(`${target}/`)) knownDirs.delete(d);
    } else {
      await fs.unlink(target);
    }
    return false;
  }

  async function meta(target: string, e: TarEntry): Promise<void> {
    // a set-group-ID directory hands its group down: from then on every entry gets its lchown
    if (e.type === 'dir' && e.mode & S_ISGID) shortcut.ownIds = false;
    let owner: { uid: number; gid: number } | undefined;
    if (!ownIds.has(target) || e.uid !== process.geteuid?.() || e.gid !== process.getegid?.()) {
      owner = { uid: e.uid, gid: e.gid };
      ownIds.delete(target);
    }
    if (e.type === 'dir') dirTimes.set(target, e.mtime);
    defer({
      op: 'meta',
      path: target,
      owner,
      mode: e.type === 'symlink' ? undefined : e.mode,
      mtime: e.type === 'dir' ? undefined : e.mtime,
    });
    for (const [name, value] of Object.entries(e.xattrs)) {
      // overlayfs reads trusted.overlay.* (opaque, redirect, metacopy): only whiteout handling may set them
      if (name.startsWith('trusted.overlay.')) continue;
      defer({ op: 'setxattr', path: target, name, value });
    }
  }

  for await (const { entry: e, body } of readTar(tar)) {
    const parts = safeComponents(e.name);
    stats.files++;
    if (parts.length === 0) {
      // "./": the layer root itself
      if (e.type !== 'dir')
        throw new UnsafeLayerError(`entry "${e.name}": the layer root must be a directory`);
      await meta(dest, e);
      continue;
    }
    const base = parts[parts.length - 1];
    const parentParts = parts.slice(0, -1);
    if (base === WH_OPAQUE) {
      const dir = await ensureDir(parentParts, e.name);
      defer({
        op: 'setxattr',
        path: dir,
        name: 'trusted.overlay.opaque',
        value: Buffer.from('y'),
      });
      continue;
    }
    if (base.startsWith(WH_PREFIX)) {
      const hidden = base.slice(WH_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..')
        throw new UnsafeLayerError(`entry "${e.name}": invalid whiteout name`);
      const dir = await ensureDir(parentParts, e.name);
      const target = path.join(dir, hidden);
      await clear(target, false);
      const op: PrivOp = {
        op: 'mknod',
        path: target,
        kind: 'c',
        major: 0,
        minor: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: e.mtime,
      };
      defer(op);
      continue;
    }
    const dir = await ensureDir(parentParts, e.name);
    const target = path.join(dir, base);
    switch (e.type) {
      case 'dir': {
        const exists = await clear(target, true);
        if (!exists) {
          await fs.mkdir(target, 0o755);
          madeHere(target);
        }
        knownDirs.add(target);
        await meta(target, e);
        break;
      }
      case 'file': {
        await clear(target, false);
        const fh = await fs.open(
          target,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        madeHere(target);
        // positional writes, several in flight, so decompression is not idle while the disk works
        const inflight: Promise<void>[] = [];
        let pos = 0;
        const writeAt = async (c: Buffer, at: number) => {
          let off = 0;
          while (off < c.length) off += (await fh.write(c, off, c.length - off, at + off)).bytesWritten;
        };
        try {
          for await (const c of body) {
            const w = writeAt(c, pos);
            w.catch(() => {}); // observed below; never an unhandled rejection meanwhile
            inflight.push(w);
            pos += c.length;
            stats.bytes += c.length;
            if (inflight.length >= 8) await inflight.shift();
          }
          await Promise.all(inflight);
        } finally {
          await Promise.allSettled(inflight);
          await fh.close();
        }
        await meta(target, e);
        break;
      }
      case 'symlink': {
        await clear(target, false);
        await fs.symlink(e.linkname, target);
        madeHere(target);
        await meta(target, e);
        break;
      }
      case 'hardlink': {
        const lparts = safeComponents(e.linkname, `hard link "${e.name}" -> target`);
        if (lparts.length === 0)
          throw new UnsafeLayerError(`hard link "${e.name}": target is the layer root`);
        // resolve the target's parents without following symlinks and without creating anything
        let cur = dest;
        for (const p of lparts.slice(0, -1)) {
          cur = path.join(cur, p);
          const st = await fs.lstat(cur).catch(() => null);
          if (!st?.isDirectory())
            throw new UnsafeLayerError(
              `hard link "${e.name}": target "${e.linkname}" is not inside this layer${st?.isSymbolicLink() ? ' (symlink in path)' : ''}`,
            );
        }
        const src = path.join(cur, lparts[lparts.length - 1]);
        const st = await fs.lstat(src).catch(() => null);
        if (!st)
          throw new UnsafeLayerError(`hard link "${e.name}": target "${e.linkname}" is not in this layer`);
        if (st.isDirectory())
          throw new UnsafeLayerError(`hard link "${e.name}": target "${e.linkname}" is a directory`);
        if (src === target) break;
        await clear(target, false);
        await fs.link(src, target);
        madeHere(target, 'linked');
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await clear(target, false);
        const op: PrivOp = {
          op: 'mknod',
          path: target,
          kind: e.type === 'char' ? 'c' : e.type === 'block' ? 'b' : 'p',
          major: e.devmajor,
          minor: e.devminor,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          mtime: e.mtime,
        };
        defer(op);
        for (const [name, value] of Object.entries(e.xattrs))
          if (!name.startsWith('trusted.overlay.')) defer({ op: 'setxattr', path: target, name, value });
        break;
      }
    }
  }
  await applyPrivilegedOps([...deferred.values()].flat());
  // directory times last: creating their children changed them
  const dirs = [...dirTimes.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [d, t] of dirs) await fs.utimes(d, t, t);
  return stats;
}
