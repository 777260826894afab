// What Node's fs cannot do for a layer: device nodes, FIFOs, overlay whiteouts (0/0 char devices)
// and xattrs, plus every entry's owner/mode/time fix-up (three thread-pool round trips per entry
// through fs, a fraction of one in a batch). They are collected per layer and applied through the
// native addon in one batch, after the layer's regular files exist.
import { applyFileOps, type FileOp, S_IFBLK, S_IFCHR, S_IFIFO } from '../engine/native.js';

export type PrivOp =
  | {
      op: 'mknod';
      path: string;
      kind: 'c' | 'b' | 'p';
      major: number;
      minor: number;
      mode: number;
      uid: number;
      gid: number;
      mtime: number;
    }
  | { op: 'setxattr'; path: string; name: string; value: Buffer }
  /** owner, mode and time of an entry Node's fs created; each part only when given */
  | { op: 'meta'; path: string; owner?: { uid: number; gid: number }; mode?: number; mtime?: number };

const TYPE_BITS = { c: S_IFCHR, b: S_IFBLK, p: S_IFIFO } as const;

/** The addon's ops for one PrivOp. Pure; exported for tests. */
export function toFileOps(o: PrivOp): FileOp[] {
  if (o.op === 'setxattr') return [{ op: 'lsetxattr', path: o.path, name: o.name, value: o.value }];
  if (o.op === 'meta') {
    const out: FileOp[] = [];
    // lchown before chmod: chown clears set-id bits
    if (o.owner) out.push({ op: 'lchown', path: o.path, uid: o.owner.uid, gid: o.owner.gid });
    if (o.mode !== undefined) out.push({ op: 'chmod', path: o.path, mode: o.mode });
    if (o.mtime !== undefined) out.push({ op: 'lutimes', path: o.path, atime: o.mtime, mtime: o.mtime });
    return out;
  }
  const perms = o.mode & 0o7777;
  return [
    { op: 'mknod', path: o.path, mode: TYPE_BITS[o.kind] | perms, major: o.major, minor: o.minor },
    { op: 'lchown', path: o.path, uid: o.uid, gid: o.gid },
    // after lchown, which clears set-id bits, and because mknod's mode went through the umask
    { op: 'chmod', path: o.path, mode: perms },
    { op: 'lutimes', path: o.path, atime: o.mtime, mtime: o.mtime },
  ];
}

export async function applyPrivilegedOps(ops: PrivOp[]): Promise<void> {
  if (ops.length === 0) return;
  try {
    await applyFileOps(ops.flatMap(toFileOps));
  } catch (err) {
    throw new Error(`layer: ${(err as Error).message}`, { cause: err });
  }
}
