// Atomic small-file replacement: write a temp file beside the target, fsync, rename.
import { promises as fs } from 'node:fs';
import path from 'node:path';

let n = 0;

export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${++n}`);
  const fh = await fs.open(tmp, 'w', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    // a full disk must not leave a temp file holding what little space is left
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Serializes async critical sections. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }
}
