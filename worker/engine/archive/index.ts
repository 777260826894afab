// docker cp, export and diff over a container's filesystem: the archive of a path (GET/HEAD
// /containers/{id}/archive), an archive extracted into a directory (PUT), the whole root filesystem
// as a tar (export), and the changes of its writable layer (diff). Paths follow dockerd's rules: the
// last component is not followed unless the path ends in "/" or "/.", which also names a directory's
// content rather than the directory ("/etc/." archives as "./…").
import { promises as fs, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { compareText } from '../../../common/compare.js';
import {
  directoryEntries,
  pathEntries,
  UnsafeLayerError,
  unpackLayer,
  writeTar,
} from '../../images/index.js';
import { TarFormatError } from '../../images/tar/reader.js';
import { type EngineContext, find, type Live, locked } from '../context.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { lgetxattr } from '../native.js';
import { inLayers } from '../spec/rootfs-files.js';
import { resolveUser } from '../spec/user.js';
import { resolveInRoot } from './resolve.js';
import { type PathStat, pathStat } from './stat.js';
import { type RootView, withRootView } from './view.js';

export { type PathStat, statHeader } from './stat.js';

/** What one path is, where on the host, and under which name it is archived. */
interface Located {
  host: string;
  logical: string;
  stat: PathStat;
  /** The archive's top name: the path's base, "." for "/." and "" for "/". */
  name: string;
}

const ENOENT = (e: unknown) =>
  (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR';

function checkPath(p: string): void {
  if (typeof p !== 'string' || p === '')
    throw new InvalidArgumentError('path', 'a path in the container is required');
  if (p.includes('\0')) throw new InvalidArgumentError('path', 'NUL byte in the path');
}

/**
 * dockerd's name for a path: its base, "." when it ends in "/.", and "" for the root itself (its entries
 * are then "/", "/bin/", … : the docker CLI rebases a copy of "/" by putting the target's name in front).
 */
function archiveName(p: string): string {
  const abs = path.posix.join('/', p);
  if (p.endsWith('/.')) return '.';
  if (abs === '/') return '';
  return path.posix.basename(abs);
}

async function locate(view: RootView, p: string, ref: string): Promise<Located> {
  const followLast = p.endsWith('/') || p.endsWith('/.');
  const r = await resolveInRoot(view.root, p, followLast);
  // The root itself may be a magic link (/proc/<pid>/root of a running container): stat it, not the link.
  const st = await (r.logical === '/' ? fs.stat(r.host) : fs.lstat(r.host)).catch((e) => {
    if (ENOENT(e)) throw new NotFoundError(`Could not find the file ${p} in container ${ref}`);
    throw e;
  });
  if (followLast && !st.isDirectory()) throw new InvalidArgumentError('path', `${p}: not a directory`);
  let linkTarget = '';
  if (st.isSymbolicLink()) linkTarget = (await resolveInRoot(view.root, r.logical, true)).logical;
  const name = archiveName(p);
  const statName = path.posix.join('/', p) === '/' ? '/' : name; // Go's filepath.Base, as dockerd
  return { ...r, stat: pathStat(statName, st, linkTarget), name };
}

/** Directories not walked: the kernel's filesystems (/proc, /sys, /dev) mounted in a running container. */
function isSpecial(logical: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(logical);
}

export function statPath(ctx: EngineContext, ref: string, p: string): Promise<PathStat> {
  checkPath(p);
  const live = find(ctx, ref);
  return withRootView(
    live,
    { writable: false, volumes: true },
    async (view) => (await locate(view, p, ref)).stat,
  );
}

/**
 * Archives a path: `fn` gets its stat and the tar stream, and must have consumed (or abandoned) the
 * stream when it returns: the container stays locked (and a running one frozen) until then.
 */
export function withArchive<T>(
  ctx: EngineContext,
  ref: string,
  p: string,
  fn: (stat: PathStat, tar: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  checkPath(p);
  const live = find(ctx, ref);
  return withRootView(live, { writable: false, volumes: true }, async (view) => {
    const at = await locate(view, p, ref);
    const mounts = new Set(view.mountPoints);
    const prune = (rel: string) => {
      const logical = path.posix.join(at.logical, rel);
      return mounts.has(logical) && isSpecial(logical);
    };
    ctx.emitEvent('archive-path', live.rec);
    // A trailing "/" makes the walk follow the root when it is /proc/<pid>/root (a running container's
    // root is that magic link; lstat of it alone sees a symlink to "/").
    const host = at.logical === '/' ? `${at.host.replace(/\/+$/, '')}/` : at.host;
    return fn(at.stat, writeTar(pathEntries(host, at.name, { prune })));
  });
}

export interface ExtractOptions {
  /** docker cp's default: a directory and a non-directory never replace each other. */
  noOverwriteDirNonDir?: boolean;
  /** docker cp -a: the files get the container's user (Config.User) as owner. */
  copyUIDGID?: boolean;
}

async function readIn(view: RootView, p: string): Promise<string | undefined> {
  const r = await resolveInRoot(view.root, p, true);
  return fs.readFile(r.host, 'utf8').catch(() => undefined);
}

/** Where a write at `logical` lands: a mount's (read-only or not), or the root filesystem. */
function mountAt(live: Live, logical: string) {
  let best: Live['rec']['mounts'][number] | undefined;
  for (const m of live.rec.mounts) {
    const d = m.destination.replace(/\/+$/, '') || '/';
    if ((logical === d || logical.startsWith(`${d}/`)) && (!best || d.length > best.destination.length))
      best = m;
  }
  return best;
}

/** Extracts a tar into the directory `p` of the container (PUT /containers/{id}/archive). */
export function extractArchive(
  ctx: EngineContext,
  ref: string,
  p: string,
  tar: AsyncIterable<Buffer>,
  opts: ExtractOptions = {},
): Promise<void> {
  checkPath(p);
  const live = find(ctx, ref);
  return withRootView(live, { writable: true, volumes: true }, async (view) => {
    const r = await resolveInRoot(view.root, p, true);
    const st = await fs.stat(r.host).catch((e) => {
      if (ENOENT(e)) throw new NotFoundError(`Could not find the file ${p} in container ${ref}`);
      throw e;
    });
    if (!st.isDirectory())
      throw new InvalidArgumentError('path', `${p}: extraction point is not a directory`);
    const mount = mountAt(live, r.logical);
    if (mount && !mount.rw)
      throw new ConflictError(`mounted volume is marked read-only: ${mount.destination}`);
    if (!mount && live.rec.hostConfig.readOnly)
      throw new ConflictError('container rootfs is marked read-only');
    let chown: { uid: number; gid: number } | undefined;
    const user = live.rec.config.user;
    if (opts.copyUIDGID && user) {
      const files = new Map<string, string | undefined>();
      for (const f of ['/etc/passwd', '/etc/group']) files.set(f, await readIn(view, f));
      const u = resolveUser(user, (f) => files.get(f));
      chown = { uid: u.uid, gid: u.gid };
    }
    try {
      await unpackLayer(
        tar,
        r.host,
        {},
        { whiteouts: false, chown, noOverwriteDirNonDir: opts.noOverwriteDirNonDir },
      );
    } catch (e) {
      if (e instanceof UnsafeLayerError || e instanceof TarFormatError)
        throw new InvalidArgumentError('archive', (e as Error).message);
      throw e;
    }
    ctx.emitEvent('extract-to-dir', live.rec);
  });
}

/** The container's root filesystem as one tar (docker export): volumes and the kernel's filesystems left out. */
export function withExport<T>(
  ctx: EngineContext,
  ref: string,
  fn: (tar: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  const live = find(ctx, ref);
  return withRootView(live, { writable: false, volumes: false }, async (view) => {
    const mounts = new Set(view.mountPoints);
    // a file mounted over (/etc/hosts) is archived with what the container sees; directories are skipped
    const prune = (rel: string) => mounts.has(`/${rel}`);
    ctx.emitEvent('export', live.rec);
    return fn(writeTar(directoryEntries(view.root, undefined, { prune })));
  });
}

/**
 * What the runtime makes in the writable layer as mount points (dockerd keeps these in an "init"
 * layer below the container's, so diff and commit never show them).
 */
const RUNTIME_MOUNTPOINTS = new Set([
  'etc/hosts',
  'etc/hostname',
  'etc/resolv.conf',
  'etc/mtab',
  'dev',
  'dev/pts',
  'dev/shm',
  'dev/mqueue',
  'dev/console',
  'proc',
  'sys',
  '.dockerenv',
]);

/** An empty mount point the runtime made (not in the image): not one of the container's changes. */
export function runtimeLeftover(upper: string, layers: readonly string[]) {
  return (rel: string, st: Stats): boolean => {
    if (!RUNTIME_MOUNTPOINTS.has(rel) || inLayers(layers, rel)) return false;
    if (st.isFile()) return st.size === 0;
    return st.isDirectory() && readdirSync(path.join(upper, rel)).length === 0;
  };
}

export type ChangeKind = 0 | 1 | 2; // docker's Modified, Added, Deleted

export interface Change {
  path: string;
  kind: ChangeKind;
}

async function isOpaque(dir: string): Promise<boolean> {
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    const v = await lgetxattr(dir, name).catch(() => null);
    if (v && v.toString() === 'y') return true;
  }
  return false;
}

/** The changes of the writable layer against the image (docker diff): C 0, A 1, D 2, sorted by path. */
export async function changes(ctx: EngineContext, ref: string): Promise<Change[]> {
  const rec = find(ctx, ref).rec;
  if (!rec.overlay || 'dir' in rec.rootfs)
    throw new ConflictError(
      `container ${rec.name} runs on a root filesystem directory: it has no layer of changes`,
    );
  const layers = rec.rootfs.layers;
  const out: Change[] = [];
  const leftover = runtimeLeftover(rec.overlay.upper, layers);
  const omitted: string[] = [];
  const omit = (rel: string, st: Stats) => {
    const hit = leftover(rel, st);
    if (hit) omitted.push(`/${rel}`);
    return hit;
  };
  for await (const { entry } of directoryEntries(rec.overlay.upper, { isOpaque }, { omit })) {
    const name = entry.name.replace(/\/$/, '');
    const base = path.posix.basename(name);
    const dir = path.posix.dirname(name);
    if (base === '.wh..wh..opq') continue; // the directory itself is reported
    if (base.startsWith('.wh.')) {
      out.push({ path: path.posix.join('/', dir, base.slice(4)), kind: 2 });
      continue;
    }
    out.push({ path: `/${name}`, kind: inLayers(layers, name) ? 0 : 1 });
  }
  // a directory copied up only to hold a mount point is no change either
  const under = (dir: string, p: string) => p.startsWith(`${dir}/`);
  const kept = out.filter(
    (c) =>
      c.kind !== 0 ||
      !omitted.some((o) => under(c.path, o)) ||
      out.some((x) => under(c.path, x.path) && !omitted.includes(x.path)),
  );
  return kept.sort((a, b) => compareText(a.path, b.path));
}

/**
 * Runs `fn` over the container's writable layer (its overlay upper dir) with the container locked and,
 * with `pause`, a running one frozen, so the layer is read as of one moment (docker commit).
 */
export function withWritableLayer<T>(
  ctx: EngineContext,
  ref: string,
  pause: boolean,
  fn: (upper: string, container: Live['rec'], omit: (rel: string, st: Stats) => boolean) => Promise<T>,
): Promise<T> {
  const live = find(ctx, ref);
  const rec = live.rec;
  if (!rec.overlay || 'dir' in rec.rootfs)
    throw new ConflictError(
      `container ${rec.name} runs on a root filesystem directory: it has no layer to commit`,
    );
  const upper = rec.overlay.upper;
  const layers = rec.rootfs.layers;
  return locked(live, async () => {
    const freeze = pause && rec.state.status === 'running';
    if (freeze) await live.monitor.pause();
    try {
      return await fn(upper, structuredClone(rec), runtimeLeftover(upper, layers));
    } finally {
      if (freeze) await live.monitor.resume().catch(() => {});
    }
  });
}
