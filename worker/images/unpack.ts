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

export async function unpackLayer(tar: AsyncIterable<Buffer>, dest: string): Promise<UnpackStats> {
  const stats: UnpackStats = { files: 0, bytes: 0 };
  const priv: PrivOp[] = [];
  const pendingPriv = new Map<string, PrivOp>();
  const dirTimes = new Map<string, number>();
  const knownDirs = new Set<string>([dest]);

  /** Walks to parts' directory, creating missing directories, refusing symlinks and non-directories. */
  async function ensureDir(parts: string[], entryName: string): Promise<string> {
    let cur = dest;
    for (const p of parts) {
      const next = path.join(cur, p);
      if (!knownDirs.has(next)) {
        const st = await fs.lstat(next).catch(() => null);
        if (!st) {
          await fs.mkdir(next, 0o755);
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
    pendingPriv.delete(target);
    const st = await fs.lstat(target).catch(() => null);
    if (!st) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      await fs.rm(target, { recursive: true, force: true });
      for (const d of knownDirs) if (d === target || d.startsWith(`${target}/`)) knownDirs.delete(d);
    } else {
      await fs.unlink(target);
    }
    return false;
  }

  async function meta(target: string, e: TarEntry): Promise<void> {
    await fs.lchown(target, e.uid, e.gid);
    if (e.type !== 'symlink') await fs.chmod(target, e.mode);
    if (e.type === 'dir') dirTimes.set(target, e.mtime);
    else await fs.lutimes(target, e.mtime, e.mtime);
    for (const [name, value] of Object.entries(e.xattrs)) {
      // overlayfs reads trusted.overlay.* (opaque, redirect, metacopy): only whiteout handling may set them
      if (name.startsWith('trusted.overlay.')) continue;
      priv.push({ op: 'setxattr', path: target, name, value });
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
      priv.push({
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
      priv.push(op);
      pendingPriv.set(target, op);
      continue;
    }
    const dir = await ensureDir(parentParts, e.name);
    const target = path.join(dir, base);
    switch (e.type) {
      case 'dir': {
        const exists = await clear(target, true);
        if (!exists) await fs.mkdir(target, 0o755);
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
        priv.push(op);
        pendingPriv.set(target, op);
        for (const [name, value] of Object.entries(e.xattrs))
          if (!name.startsWith('trusted.overlay.')) priv.push({ op: 'setxattr', path: target, name, value });
        break;
      }
    }
  }
  // ops whose path was replaced by a later entry of the same layer are dropped
  const live = priv.filter((o) => o.op !== 'mknod' || pendingPriv.get(o.path) === o);
  await applyPrivilegedOps(live);
  // directory times last: creating their children changed them
  const dirs = [...dirTimes.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [d, t] of dirs) await fs.utimes(d, t, t);
  return stats;
}
