// PrivOps become the addon's file ops in the order that leaves exact modes; failures name the path.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyPrivilegedOps, toFileOps } from './privileged-ops.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('privileged ops', () => {
  it('orders mknod, lchown, chmod (set-id bits survive the umask and the chown), lutimes', () => {
    const ops = toFileOps({
      op: 'mknod',
      path: '/l/dev/x',
      kind: 'b',
      major: 8,
      minor: 2,
      mode: 0o104660,
      uid: 1,
      gid: 6,
      mtime: 42,
    });
    expect(ops.map((o) => o.op)).toEqual(['mknod', 'lchown', 'chmod', 'lutimes']);
    expect(ops[0]).toEqual({ op: 'mknod', path: '/l/dev/x', mode: 0o060000 | 0o4660, major: 8, minor: 2 });
    expect(ops[2]).toEqual({ op: 'chmod', path: '/l/dev/x', mode: 0o4660 });
  });

  it('applies a set-uid fifo exactly, and reports a failure as a layer error naming errno and path', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-priv-'));
    const fifo = path.join(dir, 'fifo');
    await applyPrivilegedOps([
      { op: 'mknod', path: fifo, kind: 'p', major: 0, minor: 0, mode: 0o4606, uid: 3, gid: 4, mtime: 77 },
    ]);
    const st = await fs.lstat(fifo);
    expect(st.isFIFO()).toBe(true);
    expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]).toEqual([0o4606, 3, 4, 77000]);

    const missing = path.join(dir, 'absent/x');
    await expect(
      applyPrivilegedOps([{ op: 'setxattr', path: missing, name: 'user.a', value: Buffer.from('1') }]),
    ).rejects.toThrow(`layer: ENOENT lsetxattr ${missing}: no such file or directory`);
  });
});
