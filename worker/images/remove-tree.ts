// Removing a directory tree of any size (an unpacked layer: up to millions of entries, read-only
// directories included) quickly and off the event loop. Node's fs.rm walks the tree in JavaScript,
// several thread-pool round trips per entry (a 1M-file layer took a minute); `rm -rf` does the same
// walk natively in one child process with constant memory. --one-file-system keeps it from
// descending into anything mounted below (a layer dir never holds a mount; this makes sure).
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';

let discarded = 0;

export async function removeTree(dir: string): Promise<void> {
  if (!path.isAbsolute(dir) || path.resolve(dir) === '/')
    throw new Error(`removeTree: refusing "${dir}" (an absolute path below / is required)`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      'rm',
      ['-rf', '--one-file-system', '--', dir],
      { maxBuffer: 1 << 20 },
      (err, _stdout, stderr) => {
        if (!err) resolve();
        else reject(new Error(`removing ${dir}: ${stderr.trim().split('\n')[0] || err.message}`));
      },
    );
  });
}

/**
 * Takes dir out of sight at once, by a rename into `trash` (same filesystem), and removes it in the
 * background, so an rmi of a huge layer returns immediately. `done` settles when it is gone (it never
 * rejects unobserved); a crash meanwhile leaves it in `trash` for the next start to empty.
 */
export async function discardTree(dir: string, trash: string): Promise<{ done: Promise<void> }> {
  await fs.mkdir(trash, { recursive: true });
  const doomed = path.join(trash, `${path.basename(dir)}-${process.pid}-${++discarded}`);
  await fs.rename(dir, doomed);
  const done = removeTree(doomed);
  done.catch(() => {}); // the caller may choose not to wait
  return { done };
}
