// Reads a file of a container's root filesystem before the container exists: from a plain
// directory, or through overlay layers (top first) honouring whiteouts, so /etc/passwd of the
// image is found where overlayfs would show it. Symlinks are followed inside the rootfs.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';

const MAX_LINKS = 16;

type Hit =
  | { kind: 'file'; hostPath: string }
  | { kind: 'link'; target: string }
  | { kind: 'dir' }
  | undefined;

/** What overlayfs shows at `rel` ("etc/passwd") given the layers, top first. */
function lookup(layers: readonly string[], rel: string): Hit {
  const segs = rel.split('/').filter(Boolean);
  for (const layer of layers) {
    // A whiteout (0:0 char device) or an opaque parent hides everything below.
    let hidden = false;
    for (let i = 1; i <= segs.length; i++) {
      const p = join(layer, ...segs.slice(0, i));
      try {
        const st = lstatSync(p);
        if (st.isCharacterDevice() && st.rdev === 0) return undefined;
        if (i < segs.length && !st.isDirectory()) {
          hidden = true; // a file over a directory path: the path does not exist here or below
          break;
        }
      } catch {
        // Old-style (aufs) whiteout file next to the missing entry.
        try {
          lstatSync(join(layer, ...segs.slice(0, i - 1), `.wh.${segs[i - 1]}`));
          return undefined;
        } catch {}
        break;
      }
    }
    if (hidden) return undefined;
    const p = join(layer, ...segs);
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) return { kind: 'link', target: readlinkSync(p) };
      if (st.isDirectory()) return { kind: 'dir' };
      if (st.isFile()) return { kind: 'file', hostPath: p };
      return undefined;
    } catch {}
  }
  return undefined;
}

/** What the rootfs has at an absolute path, symlinks followed inside it; `path` is the resolved path. */
export type RootfsEntry =
  | { kind: 'file'; path: string; hostPath: string }
  | { kind: 'dir'; path: string }
  | undefined;

/** Resolves absolute paths inside the rootfs (every symlink component followed, never above "/"). */
export function rootfsResolver(layers: readonly string[]): (path: string) => RootfsEntry {
  return (path: string) => {
    let current = posix.normalize(`/${path}`);
    for (let hops = 0; hops <= MAX_LINKS; hops++) {
      const segs = current.split('/').filter(Boolean);
      if (segs.length === 0) return { kind: 'dir', path: '/' };
      let resolved = '/';
      let restarted = false;
      for (let i = 0; i < segs.length; i++) {
        const candidate = posix.join(resolved, segs[i]);
        const hit = lookup(layers, candidate);
        if (hit?.kind === 'link') {
          const base = hit.target.startsWith('/') ? hit.target : posix.join(resolved, hit.target);
          // ".." never climbs above the rootfs: posix.normalize of an absolute path stops at "/".
          current = posix.normalize(posix.join('/', base, ...segs.slice(i + 1)));
          restarted = true;
          break;
        }
        if (!hit) return undefined;
        if (hit.kind === 'file')
          return i === segs.length - 1
            ? { kind: 'file', path: candidate, hostPath: hit.hostPath }
            : undefined;
        resolved = candidate;
      }
      if (!restarted) return { kind: 'dir', path: resolved };
    }
    return undefined;
  };
}

/**
 * Returns a reader for absolute paths inside the rootfs (e.g. "/etc/passwd"): the file's text,
 * or undefined if it does not exist or is not a regular file.
 */
export function rootfsReader(layers: readonly string[]): (path: string) => string | undefined {
  const resolve = rootfsResolver(layers);
  return (path: string) => {
    const hit = resolve(path);
    if (hit?.kind !== 'file') return undefined;
    try {
      return readFileSync(hit.hostPath, 'utf8');
    } catch {
      return undefined;
    }
  };
}

/** Whether the layers (top first) show something at `rel` ("etc/passwd"), whiteouts honoured, not followed. */
export function inLayers(layers: readonly string[], rel: string): boolean {
  return lookup(layers, rel) !== undefined;
}
