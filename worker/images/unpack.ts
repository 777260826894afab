// Applies one layer tar to an empty directory, producing an overlayfs lower dir: OCI whiteouts become
// overlay whiteouts (0/0 char devices), opaque markers become trusted.overlay.opaque=y.
//
// Safety: entry names with ".." or a leading "/" are rejected. Parent directories are resolved one
// component at a time from the layer root with lstat; a symlink met on the way is followed *inside*
// the root, as Docker does by unpacking in a chroot: an absolute target restarts at the layer root,
// ".." stops at it, and more than 40 links is an error. The kernel never resolves a symlink for us:
// every path handed to a syscall is made of directories this walk has just seen, and an entry's last
// component is never followed (a symlink there is replaced). Only this code writes into the fresh
// layer directory, so nothing can swap a component between the check and the use.
//
// Memory does not grow with the layer: per-entry metadata goes to the native batch in bounded
// batches, and the caches (resolved parents, pending directory times) have fixed sizes.
import {
  close as closeCb,
  constants,
  promises as fs,
  linkSync,
  lstatSync,
  mkdirSync,
  open as openCb,
  openSync,
  readlinkSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  write as writeCb,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { drop, hold } from './chunk-pool.js';
import { applyPrivilegedOps, type PrivOp } from './privileged-ops.js';
import type { TarEntry } from './tar/header.js';
import { readTar } from './tar/reader.js';

export class UnsafeLayerError extends Error {}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';
const S_ISGID = 0o2000; // not in fs.constants
/** As Linux's MAXSYMLINKS: more links than this in one lookup is a loop (ELOOP). */
export const MAX_SYMLINKS = 40;
const MAX_NAME = 4096;
export interface UnpackLimits {
  /** paths with pending metadata ops before a batch goes to the addon */
  batch: number;
  /** resolved parent directories remembered (tar entries come grouped by directory) */
  parents: number;
  /** directory times held until the end; beyond this the oldest are applied early (see DirTimes) */
  dirTimes: number;
}
const LIMITS: UnpackLimits = { batch: 2048, parents: 1024, dirTimes: 4096 };

/** Splits a tar name into safe components, or throws. "" (the root itself) gives []. */
export function safeComponents(name: string, what = 'entry'): string[] {
  // Linux's PATH_MAX: a longer name could not be created anyway (PAX allows up to 1 MiB)
  if (Buffer.byteLength(name) > MAX_NAME)
    throw new UnsafeLayerError(`${what} "${name.slice(0, 64)}…": name longer than ${MAX_NAME} bytes`);
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

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Whether new files get this process's ids (so an lchown to them can be skipped). */
async function ownIdsApply(dest: string): Promise<boolean> {
  const st = await fs.stat(dest);
  // new files get our ids unless a set-group-ID directory hands down its group
  return process.geteuid !== undefined && process.getegid !== undefined && (st.mode & S_ISGID) === 0;
}

/**
 * Directory mtimes: set last, since creating a directory's children changes it. Held in insertion
 * order, refreshed whenever a directory is written into. Past the cap the least recently written are
 * applied early; should one be written into again, its (already applied) time is read back first, so
 * it is restored at the end. `null` marks a directory with no time of its own to restore.
 */
class DirTimes {
  private readonly times = new Map<string, number | null>();
  constructor(private readonly cap: number) {}

  set(dir: string, t: number | null): void {
    this.times.delete(dir);
    this.times.set(dir, t);
  }

  /** Before writing into dir: keep (or recover) the time it must get back. */
  async touch(dir: string): Promise<void> {
    const t = this.times.get(dir);
    if (t !== undefined) {
      this.set(dir, t);
      return;
    }
    const st = await fs.lstat(dir, { bigint: true });
    this.set(dir, Number(st.mtimeNs) / 1e9);
  }

  /** Forgets dir and everything under it (it was removed). */
  forget(dir: string): void {
    this.times.delete(dir);
    const prefix = `${dir}/`;
    for (const d of this.times.keys()) if (d.startsWith(prefix)) this.times.delete(d);
  }

  /** The ops applying the oldest times beyond the cap (all of them when `all`), which are dropped. */
  take(all: boolean): PrivOp[] {
    const ops: PrivOp[] = [];
    const { size } = this.times;
    let n = all ? size : size > this.cap ? size - Math.floor(this.cap / 2) : 0;
    for (const [dir, t] of this.times) {
      if (n-- <= 0) break;
      this.times.delete(dir);
      if (t !== null) ops.push({ op: 'meta', path: dir, mtime: t });
    }
    return ops;
  }
}

export interface UnpackOptions {
  /** see readTar (build contexts from the docker CLI) */
  lenientEnd?: boolean;
  /**
   * false: a plain archive (docker cp), not a layer: `.wh.` names are ordinary files. Default true.
   */
  whiteouts?: boolean;
  /** Every entry gets this owner instead of the archive's (docker cp -a: the container's user). */
  chown?: { uid: number; gid: number };
  /** Refuse to replace a directory with a non-directory or the reverse (docker cp's default). */
  noOverwriteDirNonDir?: boolean;
}

/** The calls that make and inspect entries, one metadata syscall each. */
interface EntryCalls {
  lstat(p: string): Promise<Stats>;
  mkdir(p: string, mode: number): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  link(existing: string, p: string): Promise<void>;
  readlink(p: string): Promise<string>;
  unlink(p: string): Promise<void>;
  /** A new regular file (never through a symlink, never an existing one): its descriptor. */
  create(p: string): Promise<number>;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC
const openAsync = promisify(openCb);
const writeAsync = promisify(writeCb);
const closeAsync = promisify(closeCb);

/**
 * Into a fresh layer (under the daemon's own data root) entries are made directly: each call takes
 * microseconds, while a trip through libuv's pool costs many times that in wake-ups and in waits
 * behind the pool's file writes, and a layer's entries are made one after another — busybox's ~400
 * links took ~0.35 s of a pull that way. (Failures reject as the pooled calls do.)
 */
const direct: EntryCalls = {
  lstat: async (p) => lstatSync(p),
  mkdir: async (p, mode) => {
    mkdirSync(p, mode);
  },
  symlink: async (t, p) => symlinkSync(t, p),
  link: async (e, p) => linkSync(e, p),
  readlink: async (p) => readlinkSync(p),
  unlink: async (p) => unlinkSync(p),
  create: async (p) => openSync(p, CREATE, 0o600),
};

/** A plain archive (docker cp) may go to any mount, a slow one too: its calls keep the pool. */
const pooled: EntryCalls = {
  lstat: (p) => fs.lstat(p),
  mkdir: async (p, mode) => {
    await fs.mkdir(p, mode);
  },
  symlink: (t, p) => fs.symlink(t, p),
  link: (e, p) => fs.link(e, p),
  readlink: (p) => fs.readlink(p),
  unlink: (p) => fs.unlink(p),
  create: (p) => openAsync(p, CREATE, 0o600),
};

/** `limits` only for tests: small values exercise the batching and the caches. */
export async function unpackLayer(
  tar: AsyncIterable<Buffer>,
  destDir: string,
  limits: Partial<UnpackLimits> = {},
  opts: UnpackOptions = {},
): Promise<UnpackStats> {
  const layer = opts.whiteouts !== false;
  const sys = layer ? direct : pooled;
  const lim = { ...LIMITS, ...limits };
  const dest = path.resolve(destDir); // no trailing slash: ".." handling compares with it
  const stats: UnpackStats = { files: 0, bytes: 0 };
  let ownIds = await ownIdsApply(dest);
  // Metadata ops waiting for the next batch, by path: replacing or removing a path drops its ops, so
  // a chmod (which follows symlinks) never reaches whatever a later entry put there.
  const pending = new Map<string, PrivOp[]>();
  const defer = async (op: PrivOp) => {
    const ops = pending.get(op.path);
    if (ops) ops.push(op);
    else pending.set(op.path, [op]);
    if (pending.size >= lim.batch) await flush();
  };
  async function flush(): Promise<void> {
    await filesDone(); // a write after its file's utimes would move the time again
    const ops = [...pending.values()].flat();
    pending.clear();
    await applyPrivilegedOps(ops);
    // after the batch: its mknods wrote into these directories
    await applyPrivilegedOps(dirTimes.take(false));
  }
  const dropPending = (p: string, tree: boolean) => {
    pending.delete(p);
    if (!tree) return;
    const prefix = `${p}/`;
    for (const k of pending.keys()) if (k.startsWith(prefix)) pending.delete(k);
  };
  const dirTimes = new DirTimes(lim.dirTimes);
  dirTimes.set(dest, null);
  // logical parent ("usr/lib") → resolved directory; emptied whenever anything is removed
  const parents = new Map<string, string>();

  /**
   * Resolves components inside the layer root from `start` (a directory already resolved), following
   * symlinks within the root. With `create`, missing directories are made; otherwise a missing one
   * gives null. Throws on a loop or a non-directory.
   */
  async function resolve(
    start: string,
    comps: string[],
    create: boolean,
    what: () => string,
    budget: { links: number },
  ): Promise<string | null> {
    let cur = start;
    const todo = [...comps].reverse(); // a stack: symlink targets are pushed in front of the rest
    while (todo.length > 0) {
      const p = todo.pop() as string;
      if (p === '' || p === '.') continue;
      if (p === '..') {
        if (cur !== dest) cur = path.dirname(cur); // ".." stops at the layer root
        continue;
      }
      const next = `${cur}/${p}`;
      const st = await sys.lstat(next).catch((e) => {
        if (code(e) === 'ENOENT') return null;
        throw e;
      });
      if (!st) {
        if (!create) return null;
        await dirTimes.touch(cur);
        await sys.mkdir(next, 0o755);
        dirTimes.set(next, null);
        dropPending(next, false); // a device node that never got made
        cur = next;
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++budget.links > MAX_SYMLINKS)
          throw new UnsafeLayerError(
            `${what()}: too many levels of symbolic links (a loop?) at "${path.relative(dest, next)}"`,
          );
        const target = await sys.readlink(next);
        if (target.startsWith('/')) cur = dest; // absolute: from the layer root, not the host's
        for (const t of target.split('/').reverse()) todo.push(t);
        continue;
      }
      if (!st.isDirectory())
        throw new UnsafeLayerError(`${what()}: "${path.relative(dest, next)}" is not a directory`);
      cur = next;
    }
    return cur;
  }

  /** The directory holding an entry: parts resolved inside the root, missing directories made. */
  async function parentDir(parts: string[], entryName: string): Promise<string> {
    if (parts.length === 0) return dest;
    const key = parts.join('/');
    const hit = parents.get(key);
    if (hit !== undefined) return hit;
    // Entries come depth first: a new directory's parent is usually known. Looking up every prefix
    // would cost quadratic time in the depth, so only that one is tried before the root.
    const up = parts.length > 1 ? parents.get(parts.slice(0, -1).join('/')) : undefined;
    const cur = await resolve(
      up ?? dest,
      up === undefined ? parts : parts.slice(-1),
      true,
      () => `entry "${entryName}"`,
      { links: 0 },
    );
    if (parents.size >= lim.parents) parents.clear();
    parents.set(key, cur as string);
    return cur as string;
  }

  /** Removes whatever is at target (not following it); false when nothing was there. */
  async function remove(target: string): Promise<boolean> {
    const st = await sys.lstat(target).catch(() => null);
    dropPending(target, st?.isDirectory() ?? false);
    if (!st) return false;
    await dirTimes.touch(path.dirname(target));
    parents.clear(); // a cached resolution may have gone through what is removed
    if (st.isDirectory()) {
      dirTimes.forget(target);
      await fs.rm(target, { recursive: true, force: true });
    } else {
      await sys.unlink(target);
    }
    return true;
  }

  /**
   * Creates a new entry at target with make(), which must fail with EEXIST when something is there;
   * that something is removed first (a directory stays when keepDir). Returns whether it was created.
   */
  async function place(target: string, make: () => Promise<void>, keepDir = false): Promise<boolean> {
    await dirTimes.touch(path.dirname(target));
    try {
      await make();
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
      if (keepDir && (await sys.lstat(target)).isDirectory()) return false;
      await remove(target);
      await make();
    }
    // ops of an earlier entry at this path that never reached the disk (a device node) are void
    dropPending(target, false);
    return true;
  }

  /** Owner, mode, time and xattrs of an entry; `fresh` when this unpack just created it. */
  async function meta(target: string, e: TarEntry, fresh: boolean): Promise<void> {
    // a set-group-ID directory hands its group down: from then on every entry gets its lchown
    if (e.type === 'dir' && e.mode & S_ISGID) ownIds = false;
    const owner =
      fresh && ownIds && e.uid === process.geteuid?.() && e.gid === process.getegid?.()
        ? undefined
        : { uid: e.uid, gid: e.gid };
    if (e.type === 'dir') dirTimes.set(target, e.mtime);
    await defer({
      op: 'meta',
      path: target,
      owner,
      mode: e.type === 'symlink' ? undefined : e.mode,
      mtime: e.type === 'dir' ? undefined : e.mtime,
    });
    await xattrs(target, e);
  }

  async function xattrs(target: string, e: TarEntry): Promise<void> {
    for (const [name, value] of Object.entries(e.xattrs)) {
      // overlayfs reads trusted.overlay.* (opaque, redirect, metacopy): only whiteout handling may set them
      if (name.startsWith('trusted.overlay.')) continue;
      await defer({ op: 'setxattr', path: target, name, value });
    }
  }

  /** A device node, FIFO or whiteout: made by the batch, so whatever is at target goes now. */
  async function node(target: string, op: Extract<PrivOp, { op: 'mknod' }>): Promise<void> {
    await remove(target);
    await dirTimes.touch(path.dirname(target));
    await defer(op);
  }

  // A file's last writes and its close go on while the next entries are made (they are made one
  // after another, and waiting for each file's writes made a layer of many small files as slow as
  // the pool's round trips). Its owner, mode and time wait for them: flush() settles the files first.
  const closing = new Set<Promise<void>>();
  let fileError: unknown = null;
  const finishing = (p: Promise<void>) => {
    const t: Promise<void> = p
      .catch((e) => {
        fileError ??= e;
      })
      .finally(() => closing.delete(t));
    closing.add(t);
  };
  /** Waits for every file still being written; throws the first failure among them. */
  async function filesDone(): Promise<void> {
    await Promise.all(closing);
    if (fileError) throw fileError;
  }

  async function writeFile(target: string, body: AsyncIterable<Buffer>): Promise<void> {
    if (fileError) throw fileError;
    // bounds the open descriptors and the chunks held by writes
    while (closing.size >= 16) await Promise.race(closing);
    let fd = -1;
    await place(target, async () => {
      fd = await sys.create(target);
    });
    // positional writes, several in flight, so decompression is not idle while the disk works
    const inflight: Promise<void>[] = [];
    let pos = 0;
    // a chunk is held while its write is in flight: the tar reader may reuse it (chunk-pool.ts)
    const writeAt = async (c: Buffer, at: number) => {
      hold(c);
      try {
        let off = 0;
        while (off < c.length) off += (await writeAsync(fd, c, off, c.length - off, at + off)).bytesWritten;
      } finally {
        drop(c);
      }
    };
    try {
      for await (const c of body) {
        const w = writeAt(c, pos);
        w.catch(() => {}); // observed when the file is finished; never an unhandled rejection meanwhile
        inflight.push(w);
        pos += c.length;
        stats.bytes += c.length;
        if (inflight.length >= 8) await inflight.shift();
      }
    } finally {
      finishing(
        Promise.allSettled(inflight).then(async (results) => {
          await closeAsync(fd);
          const failed = results.find((r) => r.status === 'rejected');
          if (failed) throw (failed as PromiseRejectedResult).reason;
        }),
      );
    }
  }

  /** A hard link's source: resolved inside the root like a parent, never created. */
  async function linkSource(e: TarEntry): Promise<string> {
    const lparts = safeComponents(e.linkname, `hard link "${e.name}" -> target`);
    if (lparts.length === 0) throw new UnsafeLayerError(`hard link "${e.name}": target is the layer root`);
    const what = () => `hard link "${e.name}": target "${e.linkname}"`;
    const dir = await resolve(dest, lparts.slice(0, -1), false, what, { links: 0 });
    const src = dir === null ? null : `${dir}/${lparts[lparts.length - 1]}`;
    if (src !== null && pending.has(src)) await flush(); // a device node the batch has yet to make
    const st = src === null ? null : await sys.lstat(src).catch(() => null);
    if (!st || src === null)
      throw new UnsafeLayerError(`hard link "${e.name}": target "${e.linkname}" is not in this layer`);
    if (st.isDirectory())
      throw new UnsafeLayerError(`hard link "${e.name}": target "${e.linkname}" is a directory`);
    return src;
  }

  /** docker's noOverwriteDirNonDir: a directory and a non-directory never replace each other. */
  async function checkOverwrite(target: string, e: TarEntry): Promise<void> {
    const st = await sys.lstat(target).catch(() => null);
    if (!st) return;
    const rel = path.relative(dest, target);
    if (st.isDirectory() && e.type !== 'dir')
      throw new UnsafeLayerError(`cannot overwrite directory "${rel}" with non-directory "${e.name}"`);
    if (!st.isDirectory() && e.type === 'dir')
      throw new UnsafeLayerError(`cannot overwrite non-directory "${rel}" with directory "${e.name}"`);
  }

  try {
    for await (const { entry: e, body } of readTar(tar, { lenientEnd: opts.lenientEnd })) {
      if (opts.chown) {
        e.uid = opts.chown.uid;
        e.gid = opts.chown.gid;
      }
      const parts = safeComponents(e.name);
      stats.files++;
      if (parts.length === 0) {
        // "./": the layer root itself; an existing directory a plain archive goes into keeps its own
        if (!layer) continue;
        if (e.type !== 'dir')
          throw new UnsafeLayerError(`entry "${e.name}": the layer root must be a directory`);
        await meta(dest, e, false);
        continue;
      }
      const base = parts[parts.length - 1];
      const dir = await parentDir(parts.slice(0, -1), e.name);
      if (layer && base === WH_OPAQUE) {
        await defer({ op: 'setxattr', path: dir, name: 'trusted.overlay.opaque', value: Buffer.from('y') });
        continue;
      }
      if (layer && base.startsWith(WH_PREFIX)) {
        const hidden = base.slice(WH_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..')
          throw new UnsafeLayerError(`entry "${e.name}": invalid whiteout name`);
        const target = `${dir}/${hidden}`;
        await node(target, {
          op: 'mknod',
          path: target,
          kind: 'c',
          major: 0,
          minor: 0,
          mode: 0,
          uid: 0,
          gid: 0,
          mtime: e.mtime,
        });
        continue;
      }
      const target = `${dir}/${base}`;
      if (opts.noOverwriteDirNonDir) await checkOverwrite(target, e);
      switch (e.type) {
        case 'dir': {
          const made = await place(target, () => sys.mkdir(target, 0o755), true);
          await meta(target, e, made);
          break;
        }
        case 'file': {
          await writeFile(target, body);
          await meta(target, e, true);
          break;
        }
        case 'symlink': {
          await place(target, () => sys.symlink(e.linkname, target));
          await meta(target, e, true);
          break;
        }
        case 'hardlink': {
          const src = await linkSource(e);
          if (src === target) break;
          await place(target, () => sys.link(src, target));
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          await node(target, {
            op: 'mknod',
            path: target,
            kind: e.type === 'char' ? 'c' : e.type === 'block' ? 'b' : 'p',
            major: e.devmajor,
            minor: e.devminor,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
          });
          await xattrs(target, e);
          break;
        }
      }
    }
  } finally {
    // nothing of this unpack still writes into the directory once it returns or throws
    await Promise.all(closing);
  }
  await flush();
  // directory times last: creating their children changed them (setting one does not change another)
  const times = dirTimes.take(true);
  for (let i = 0; i < times.length; i += lim.batch) await applyPrivilegedOps(times.slice(i, i + lim.batch));
  return stats;
}
