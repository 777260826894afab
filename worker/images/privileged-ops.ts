// Node has no mknod(2) or setxattr(2). Device nodes, FIFOs, overlay whiteouts (0/0 char devices) and
// xattrs are therefore batched per layer and applied by one short python3 process, which has both.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

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
  | { op: 'setxattr'; path: string; name: string; value: string /* base64 */ };

const SCRIPT = `
import base64, json, os, stat, sys
ops = json.load(sys.stdin)
for o in ops:
    p = o["path"]
    try:
        if o["op"] == "mknod":
            kind = {"c": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[o["kind"]]
            os.mknod(p, kind | (o["mode"] & 0o7777), os.makedev(o["major"], o["minor"]))
            os.chown(p, o["uid"], o["gid"], follow_symlinks=False)
            os.chmod(p, o["mode"] & 0o7777)
            os.utime(p, (o["mtime"], o["mtime"]), follow_symlinks=False)
        elif o["op"] == "setxattr":
            os.setxattr(p, o["name"], base64.b64decode(o["value"]), follow_symlinks=False)
    except OSError as e:
        sys.stderr.write("%s %s: %s\\n" % (o["op"], p, e.strerror))
        sys.exit(1)
`;

function python(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export async function applyPrivilegedOps(ops: PrivOp[]): Promise<void> {
  if (ops.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const p = spawn(python(), ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', (e) =>
      reject(new Error(`layer: cannot run python3 for device nodes/xattrs: ${e.message}`)),
    );
    p.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`layer: ${err.trim() || `python3 exited with ${code}`}`));
    });
    p.stdin.end(JSON.stringify(ops));
  });
}
