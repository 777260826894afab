// How many bytes a directory tree holds (files and symlinks by their size, as `du --apparent-size`), for a
// container's writable layer (docker's SizeRw). Hard links are counted once.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function treeSize(root: string): Promise<number> {
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<number> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return 0; // gone (removed meanwhile) or never made (a rootfs directory container has no upper)
    }
    let total = 0;
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        total += await walk(p);
        continue;
      }
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
    return total;
  };
  return walk(root);
}
