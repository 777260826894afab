// Removal: a running container only with force (SIGKILL, then its exit), then under the
// container's lock the runtime state, the bundle and the table entry go, and waiters are released.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { abandonPendingAttaches } from './attach.js';
import { type EngineContext, isRunning, type Live, locked } from './context.js';
import { ConflictError } from './errors.js';
import { nextExit } from './exits.js';
import { unmountFiles } from './file-mounts.js';
import { stopHealth } from './health-monitor.js';
import { cancelRestart } from './restarts.js';
import { waitResult } from './state.js';
import { signalInit } from './stop.js';
import type { MountPoint } from './types.js';

/** `rm -v` and `--rm`: the container's anonymous volumes go, unless another container uses them. */
async function removeAnonymousVolumes(ctx: EngineContext, mounts: MountPoint[]): Promise<void> {
  for (const m of mounts) {
    if (m.type !== 'volume' || !m.name || !ctx.volumes.has(m.name)) continue;
    if (!ctx.volumes.get(m.name).anonymous) continue;
    await ctx.volumes.remove(m.name).catch(() => {});
  }
}

export async function removeContainer(
  ctx: EngineContext,
  live: Live,
  opts: { force?: boolean; removeVolumes?: boolean },
): Promise<void> {
  const rec = live.rec;
  if (live.removing) throw new ConflictError(`removal of container ${rec.name} is already in progress`);
  if (rec.state.status === 'restarting') {
    if (!opts.force)
      throw new ConflictError(
        `You cannot remove a restarting container ${rec.id}. Stop the container before attempting removal or force remove`,
      );
    await cancelRestart(ctx, live);
  }
  if (isRunning(live)) {
    if (!opts.force)
      throw new ConflictError(
        `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`,
      );
    const exited = nextExit(live);
    await signalInit(ctx, live, 9);
    await exited;
  }
  return locked(live, async () => {
    if (live.removing) return;
    live.removing = true;
    rec.state.status = 'removing';
    live.watch?.abort();
    live.watch = undefined;
    stopHealth(live);
    await live.cleanup;
    try {
      // A created (never started) container still has a monitor and a blocked init.
      if (rec.runtimeCreated || existsSync(ctx.runtime.stateDir(rec.id)))
        await ctx.runtime.delete(rec.id, true);
    } catch (e) {
      live.removing = false;
      rec.state.status = 'dead';
      rec.state.dead = true;
      rec.state.error = (e as Error).message;
      throw e;
    }
    await ctx.networking?.release(rec.id).catch(() => {});
    await rm(rec.bundle, { recursive: true, force: true });
    await unmountFiles(ctx.filesRoot, rec.id);
    ctx.live.delete(rec.id);
    abandonPendingAttaches(live);
    if (ctx.names.get(rec.name) === rec.id) ctx.names.delete(rec.name);
    ctx.execs.containerRemoved(rec.id);
    ctx.emitEvent('destroy', rec);
    const result = waitResult(rec.state);
    for (const l of live.exitListeners.splice(0)) l(result);
    for (const l of live.removedListeners.splice(0)) l(result);
    if (opts.removeVolumes) await removeAnonymousVolumes(ctx, rec.mounts);
  });
}
