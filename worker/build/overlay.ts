// Overlay mounts the builder makes in shoald's own mount namespace: a writable one over a step's
// layers for COPY/ADD (its upper dir becomes the layer, as a RUN's container's does), a read-only one
// to read another stage's or image's files (COPY --from). mount(8)/umount(8) do the syscalls.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Overlay {
  /** the merged view */
  target: string;
  /** the changes (writable mounts only) */
  upper?: string;
  unmount(): Promise<void>;
}

/**
 * Mounts `lower` (top first) at `dir`/merged; with `writable`, `dir`/upper and `dir`/work take the
 * changes. `empty` is an empty directory used as the bottom layer (overlayfs needs two lowers when it
 * has no upper, and one at least).
 */
export async function mountOverlay(
  dir: string,
  lower: readonly string[],
  empty: string,
  writable: boolean,
): Promise<Overlay> {
  const target = path.join(dir, 'merged');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  await fs.mkdir(target, { recursive: true });
  const lowers = [...new Set(lower)];
  if (lowers.length === 0 || !writable) lowers.push(empty);
  for (const l of lowers)
    if (l.includes(':') || l.includes(','))
      throw new Error(`layer path ${l} contains ":" or ",", which overlayfs options cannot hold`);
  let opts = `lowerdir=${lowers.join(':')}`;
  if (writable) {
    await fs.mkdir(upper, { recursive: true, mode: 0o755 });
    await fs.mkdir(work, { recursive: true });
    opts += `,upperdir=${upper},workdir=${work}`;
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, target]).catch(
    (e: Error & { stderr?: string }) => {
      throw new Error(`mount overlay for the build: ${(e.stderr || e.message).trim()}`);
    },
  );
  let mounted = true;
  return {
    target,
    upper: writable ? upper : undefined,
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', [target]).catch(async () => {
        await run('umount', ['-l', target]);
      });
    },
  };
}
