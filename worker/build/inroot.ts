// Paths inside a root directory resolved as a chroot would: symlinks are followed *within* the root
// (an absolute target starts at the root, ".." stops there), so a hostile context or image can never
// make the builder read or write outside it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ShoalError } from '../../common/errors.js';

const MAX_LINKS = 40;

export class OutsideRootError extends ShoalError {
  constructor(message: string) {
    super('invalid_argument', message);
    this.name = 'OutsideRootError';
  }
}

/** Splits a path into clean components ("." dropped, ".." applied, never above the root). */
export function components(p: string): string[] {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

/**
 * The host path of `rel` inside `root`, symlinks followed inside the root; the last component is
 * followed only with `followLast`. Missing components are kept as written (for creating them).
 */
export async function resolveInRoot(root: string, rel: string, followLast = true): Promise<string> {
  let todo = components(rel);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    const here = path.join(root, ...done, c);
    let st: import('node:fs').Stats | undefined;
    try {
      st = await fs.lstat(here);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new OutsideRootError(`too many levels of symbolic links in ${rel}`);
      const target = await fs.readlink(here);
      const base = target.startsWith('/') ? [] : done;
      todo = [...components([...base, ...target.split('/')].join('/')), ...todo];
      done.length = 0;
      // re-resolve from the root: components() already applied ".." within the root
      continue;
    }
    done.push(c);
  }
  return path.join(root, ...done);
}
