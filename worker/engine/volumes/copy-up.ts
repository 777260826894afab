// Copies what the image shows at a path into a new volume (docker's copy-up), read through the
// rootfs layers (top first) as overlayfs merges them: whiteouts (0:0 character devices, or aufs
// ".wh." files) and opaque directories (trusted.overlay.opaque=y) hide what is below. Owners,
// modes and times are kept; device nodes and FIFOs are made with the native file ops.
import { randomBytes } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import { applyFileOps, lgetxattr } from '../native.js';

const WH_PREFIX = '.wh.';

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch {
    return null;
  }
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

async function isOpaque(dir: string): Promise<boolean> {
  try {
    return (await lgetxattr(dir, 'trusted.overlay.opaque'))?.toString() === 'y';
  } catch {
    return false;
  }
}

/**
 * The layers (top first) whose directory at `rel` overlayfs shows, given the layers that show its
 * parent: a layer with a whiteout or a non-directory there hides the rest, an opaque one ends them.
 */
async function showing(layers: readonly string[], rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const layer of layers) {
    const st = await lstatOrNull(join(layer, rel));
    if (!st) continue;
    if (!st.isDirectory()) break;
    out.push(layer);
    if (await isOpaque(join(layer, rel))) break;
  }
  return out;
}

async function layersAt(layers: readonly string[], rel: string): Promise<string[]> {
  let current = [...layers];
  const segs = rel.split('/').filter(Boolean);
  for (let i = 1; i <= segs.length && current.length > 0; i++)
    current = await showing(current, segs.slice(0, i).join('/'));
  return current;
}

async function copyAttrs(st: Stats, dst: string, isLink: boolean): Promise<void> {
  await lchown(dst, st.uid, st.gid);
  if (!isLink) {
    await chmod(dst, st.mode & 0o7777);
    await lutimes(dst, st.atime, st.mtime);
  }
}

async function copyDir(layers: readonly string[], rel: string, dst: string): Promise<void> {
  const seen = new Set<string>();
  for (const layer of layers) {
    let entries: Dirent[];
    try {
      entries = await readdir(join(layer, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.name.startsWith(WH_PREFIX)) {
        seen.add(e.name.slice(WH_PREFIX.length)); // aufs whiteout: hides the name below
        continue;
      }
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      const childRel = join(rel, e.name);
      const src = join(layer, childRel);
      const st = await lstatOrNull(src);
      if (!st || isWhiteout(st)) continue;
      const to = join(dst, e.name);
      if (st.isDirectory()) {
        await mkdir(to, { mode: 0o700 });
        // This layer and those below it that still show the directory.
        const below = layers.slice(layers.indexOf(layer));
        await copyDir(await showing(below, childRel), childRel, to);
        await copyAttrs(st, to, false);
      } else if (st.isFile()) {
        await copyFile(src, to);
        await copyAttrs(st, to, false);
      } else if (st.isSymbolicLink()) {
        await symlink(await readlink(src), to);
        await copyAttrs(st, to, true);
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        await applyFileOps([
          {
            op: 'mknod',
            path: to,
            mode: st.mode,
            major: Math.floor(st.rdev / 256) & 0xfff,
            minor: st.rdev & 0xff,
          },
        ]);
        await copyAttrs(st, to, false);
      }
      // Sockets are not copied (docker's copy skips them too).
    }
  }
}

/**
 * Copies the merged content of `path` (resolved, absolute, a directory in the image) into `dst`,
 * an existing empty directory (a volume's _data), and gives `dst` the owner and mode of the image's
 * directory. The copy is made in a sibling directory no container sees, then renamed into `dst`
 * entry by entry: a container already using the volume could plant symlinks in `dst`, and a rename
 * never follows them (a copy written straight into `dst` would). An entry such a container made
 * first is left as it is.
 */
export async function copyUp(layers: readonly string[], path: string, dst: string): Promise<void> {
  const rel = path.replace(/^\/+/, '');
  const showingLayers = await layersAt(layers, rel);
  if (showingLayers.length === 0) return;
  const staging = `${dst}.copy-${randomBytes(6).toString('hex')}`;
  await mkdir(staging, { mode: 0o700 });
  try {
    await copyDir(showingLayers, rel, staging);
    for (const name of await readdir(staging)) {
      try {
        await rename(join(staging, name), join(dst, name));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EISDIR' && code !== 'ENOTDIR') throw e;
      }
    }
    const top = await lstat(join(showingLayers[0], rel));
    await copyAttrs(top, dst, false);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
