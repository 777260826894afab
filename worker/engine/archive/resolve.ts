// Container paths resolved as the container's own root would resolve them: every component is looked
// at with lstat from the root down, a symlink's target is followed *inside* the root (an absolute
// target starts over at the root, ".." stops there), so no path a container holds can lead the daemon
// outside it. The caller keeps the tree still while it uses the answer (the container is frozen or
// stopped, and the container's lock is held).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/** As Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

export interface Resolved {
  /** The host path (under the root). */
  host: string;
  /** The same place as the container names it, absolute and clean ("/etc/passwd"). */
  logical: string;
}

/**
 * Resolves `p` (absolute in the container) under `root`. The last component is followed only with
 * `followLast`; missing components are kept as written.
 */
export async function resolveInRoot(root: string, p: string, followLast: boolean): Promise<Resolved> {
  const todo = p.split('/').reverse(); // a stack: a link's target goes in front of the rest
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.pop() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      done.pop(); // never above the root
      continue;
    }
    const last = !todo.some((t) => t !== '' && t !== '.');
    const here = path.join(root, ...done, c);
    const st = await fs.lstat(here).catch(() => null);
    if (st?.isSymbolicLink() && (!last || followLast)) {
      if (++links > MAX_LINKS)
        throw new InvalidArgumentError('path', `${p}: too many levels of symbolic links`);
      const target = await fs.readlink(here);
      if (target.startsWith('/')) done.length = 0;
      for (const t of target.split('/').reverse()) todo.push(t);
      continue;
    }
    done.push(c);
  }
  return { host: path.join(root, ...done), logical: `/${done.join('/')}` };
}
