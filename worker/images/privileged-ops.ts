// What Node's fs cannot do for a layer: device nodes, FIFOs, overlay whiteouts (0/0 char devices)
// and xattrs. They are collected per layer and applied through the native addon in one batch (one
// thread-pool round trip), after the layer's regular files exist.
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
  | { op: 'setxattr'; path: string; name: string; value: Buffer };

const TYPE_BITS = { c: S_IFCHR, b: S_IFBLK, p: S_IFIFO } as const;

/** The addon's ops for one PrivOp. Pure; exported for tests. */
export function toFileOps(o: PrivOp): FileOp[] {
  if (o.op === 'setxattr') return [{ op: 'lsetxattr', path: o.path, name: o.name, value: o.value }];
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
