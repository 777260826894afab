// A container's root filesystem as the host can walk it, for copying files in and out (docker cp,
// export): held under the container's lock, so nothing starts, stops or removes it meanwhile.
// - running: /proc/<pid>/root, the container's own view (its volumes included), with the container
//   frozen while the daemon works in it, so no process of it can swap a path component for a
//   symlink between the daemon's check and its use (CVE-2018-15664); a paused one stays paused;
// - stopped, on image layers: its overlay mounted in shoald's namespace under the container's
//   directory (writable when the copy writes, else read-only with the upper dir as the top lower),
//   its volumes and binds mounted on it where the image has their destination (not for export);
// - stopped, on a rootfs directory: that directory.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { isRunning, type Live, locked } from '../context.js';
import { InternalError } from '../errors.js';
import { resolveInRoot } from './resolve.js';

const run = promisify(execFile);

export interface RootView {
  /** The host path of the container's "/". */
  root: string;
  /** Mount points (container paths, "/proc") inside the view: filesystems other than the root's. */
  mountPoints: string[];
}

/** Mount points of a process's mount namespace, as it names them (from /proc/<pid>/mountinfo). */
async function mountPointsOf(pid: number): Promise<string[]> {
  const text = await fs.readFile(`/proc/${pid}/mountinfo`, 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    // octal escapes (\040 for a space) as the kernel writes them
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp !== '/') out.push(mp);
  }
  return out;
}

async function sh(cmd: string, args: string[], what: string): Promise<void> {
  await run(cmd, args).catch((e: Error & { stderr?: string }) => {
    throw new InternalError(`${what}: ${(e.stderr || e.message).trim()}`, { cause: e });
  });
}

async function unmount(target: string): Promise<void> {
  await run('umount', [target]).catch(() => run('umount', ['-l', target]));
}

/** Runs `fn` over the container's root, set up and taken down around it under the container's lock. */
export function withRootView<T>(
  live: Live,
  opts: { writable: boolean; volumes: boolean },
  fn: (view: RootView) => Promise<T>,
): Promise<T> {
  return locked(live, async () => {
    const rec = live.rec;
    if (isRunning(live) && rec.state.pid > 0) {
      const frozen = rec.state.status === 'running';
      if (frozen) await live.monitor.pause();
      try {
        const root = `/proc/${rec.state.pid}/root`;
        return await fn({ root, mountPoints: await mountPointsOf(rec.state.pid) });
      } finally {
        if (frozen) await live.monitor.resume().catch(() => {});
      }
    }
    if ('dir' in rec.rootfs || !rec.overlay) {
      const dir = 'dir' in rec.rootfs ? rec.rootfs.dir : rec.rootfs.layers[0];
      return fn({ root: dir, mountPoints: [] });
    }
    const ov = rec.overlay;
    const base = path.join(rec.bundle, `cp-${randomBytes(4).toString('hex')}`);
    const target = path.join(base, 'merged');
    await fs.mkdir(target, { recursive: true, mode: 0o700 });
    const mounted: string[] = [];
    try {
      const mountOpts = opts.writable
        ? `lowerdir=${rec.rootfs.layers.join(':')},upperdir=${ov.upper},workdir=${ov.work}`
        : `lowerdir=${[ov.upper, ...rec.rootfs.layers].join(':')}`;
      await sh(
        'mount',
        ['-t', 'overlay', 'overlay', '-o', mountOpts, target],
        'mount the container filesystem',
      );
      mounted.push(target);
      const mountPoints: string[] = [];
      for (const m of opts.volumes ? rec.mounts : []) {
        if (m.type === 'tmpfs') continue;
        const at = await resolveInRoot(target, m.destination, true);
        if (!(await fs.lstat(at.host).catch(() => null))) continue; // not made yet: nothing to show
        await sh('mount', ['--bind', m.source, at.host], `mount ${m.destination}`);
        mounted.push(at.host);
        if (!m.rw) await sh('mount', ['-o', 'remount,bind,ro', at.host], `mount ${m.destination} read-only`);
        mountPoints.push(at.logical);
      }
      return await fn({ root: target, mountPoints });
    } finally {
      for (const m of mounted.reverse()) await unmount(m);
      // never recursive: should an unmount have failed, the container's files are below
      await fs.rmdir(target).catch(() => {});
      await fs.rmdir(base).catch(() => {});
    }
  });
}
