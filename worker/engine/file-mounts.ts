// Files a container gets from memory, not from an image or a host path (the swarm's secrets and configs):
// one tmpfs per container at <execRoot>/files/<id> (nosuid, nodev, noexec, 0700, sized to its files), each
// file written there with its owner and mode and bind-mounted read-only at its target. The data touches no
// disk and is never in the container's record (only the targets are). Removal detaches the tmpfs; a tmpfs
// left by a create that crashed is collected at open.
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from './errors.js';
import { applyFileOps } from './native.js';
import type { ResolvedMount } from './spec/mounts.js';
import type { FileMount } from './types.js';

const PAGE = 4096;

export const filesRoot = (execRoot: string) => join(execRoot, 'files');

/** Checks the files before anything is made (a bad one names its field). */
export function checkFileMounts(files: readonly FileMount[]): void {
  const seen = new Set<string>();
  files.forEach((f, i) => {
    const field = `files[${i}]`;
    if (!f.target.startsWith('/') || f.target.split('/').includes('..'))
      throw new InvalidArgumentError(
        `${field}.target`,
        `"${f.target}" must be an absolute path without ".."`,
      );
    if (seen.has(f.target)) throw new InvalidArgumentError(`${field}.target`, `${f.target} is mounted twice`);
    seen.add(f.target);
    for (const [k, v] of [
      ['uid', f.uid],
      ['gid', f.gid],
    ] as const)
      if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe)
        throw new InvalidArgumentError(`${field}.${k}`, `${v} is not a valid id`);
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777)
      throw new InvalidArgumentError(`${field}.mode`, `${f.mode} is not a file mode`);
  });
}

/**
 * Mounts the container's tmpfs and writes its files; returns the read-only binds for the spec. On failure
 * nothing is left. `idShift`: a user namespace's host ids for container id 0.
 */
export async function mountFiles(
  root: string,
  id: string,
  files: readonly FileMount[],
  idShift: { uid: number; gid: number } = { uid: 0, gid: 0 },
): Promise<ResolvedMount[]> {
  const dir = join(root, id);
  await mkdir(root, { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o700 });
  const size = files.reduce((n, f) => n + Math.ceil(f.data.length / PAGE + 1) * PAGE, 0) + 16 * PAGE;
  try {
    await applyFileOps([{ op: 'mountTmpfs', path: dir, size, mode: 0o700 }]);
    for (const [i, f] of files.entries()) {
      const p = join(dir, String(i));
      await writeFile(p, f.data, { mode: 0o600, flag: 'wx' });
      await chown(p, f.uid + idShift.uid, f.gid + idShift.gid);
      await chmod(p, f.mode);
    }
  } catch (err) {
    await unmountFiles(root, id);
    throw err;
  }
  return files.map((f, i) => ({
    type: 'bind',
    source: join(dir, String(i)),
    destination: f.target,
    readOnly: true,
    propagation: 'rprivate',
    mode: 'ro',
  }));
}

/** Detaches the container's tmpfs (if any) and removes its directory. */
export async function unmountFiles(root: string, id: string): Promise<void> {
  const dir = join(root, id);
  if (!existsSync(dir)) return;
  try {
    await applyFileOps([{ op: 'umount', path: dir }]);
  } catch (err) {
    // EINVAL: not a mount point here (never mounted, or mounted in another mount namespace: a shoald started
    // again by `ip netns exec` sees only the directory). The files then live on with the old namespace.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  await rm(dir, { recursive: true, force: true });
}

/** At open: tmpfs directories of containers that have no record (a create that crashed) are removed. */
export async function collectOrphanFiles(root: string, known: (id: string) => boolean): Promise<void> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  for (const id of names) if (!known(id)) await unmountFiles(root, id).catch(() => {});
}
