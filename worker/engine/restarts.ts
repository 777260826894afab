// Restart policies applied: after an exit the pure core (restart-policy.ts) decides, and a container
// to restart waits its back-off in the "restarting" state (Running and Restarting true, as dockerd's)
// before it starts again; a user's stop or kill cancels that; at daemon start the policy starts what it
// should. The restart count lives in the record (kept across a shoald restart); the back-off in memory.
import { type EngineContext, isRunning, type Live, locked, persist } from './context.js';
import { decideRestart, isNoRestart, startsAtBoot } from './restart-policy.js';
import { ZERO_TIME } from './state.js';

const restartOf = (live: Live) => {
  live.restart ??= { lastDelayMs: 0, stoppedByUser: false };
  return live.restart;
};

/**
 * Called with the exited state already in the record: decides, and for a restart counts it and puts
 * the record in the restarting state. Returns the delay to restart after, or undefined.
 */
export function decideAfterExit(ctx: EngineContext, live: Live): number | undefined {
  const rec = live.rec;
  const policy = rec.hostConfig.restartPolicy;
  if (isNoRestart(policy) || !policy || live.removing || ctx.closed) return undefined;
  const r = restartOf(live);
  const started = Date.parse(rec.state.startedAt);
  const finished = Date.parse(rec.state.finishedAt);
  const d = decideRestart({
    policy,
    exitCode: rec.state.exitCode,
    restartCount: rec.restartCount,
    ranMs: Number.isFinite(started) && Number.isFinite(finished) ? Math.max(0, finished - started) : 0,
    stoppedByUser: r.stoppedByUser,
    manuallyStopped: !!rec.manuallyStopped,
    lastDelayMs: r.lastDelayMs,
  });
  r.lastDelayMs = d.lastDelayMs;
  if (!d.restart) return undefined;
  rec.restartCount = d.restartCount;
  rec.state = { ...rec.state, status: 'restarting', running: true, restarting: true, pid: 0 };
  return d.delayMs;
}

/** Starts the container again after `delayMs`, unless cancelled meanwhile (stop, kill, remove, close). */
export function scheduleRestart(ctx: EngineContext, live: Live, delayMs: number): void {
  const r = restartOf(live);
  clearTimeout(r.timer);
  r.timer = setTimeout(() => {
    r.timer = undefined;
    if (ctx.closed || live.removing || live.rec.state.status !== 'restarting') return;
    ctx.startByPolicy(live, 'policy').catch((e) => {
      // As dockerd: a restart that fails to start leaves the container stopped, with the error.
      settleStopped(live, (e as Error).message);
      persist(ctx, live).catch(() => {});
    });
  }, delayMs);
  r.timer.unref();
}

function settleStopped(live: Live, error = ''): void {
  const s = live.rec.state;
  live.rec.state = {
    ...s,
    status: 'exited',
    running: false,
    restarting: false,
    pid: 0,
    error: error || s.error,
  };
}

/**
 * A pending restart is called off: the container is stopped with its last exit. Returns whether
 * there was one (the caller's stop/kill/remove then has nothing else to do). Under the container's
 * lock, so a restart already starting finishes first (and the caller then stops a running container).
 */
export async function cancelRestart(ctx: EngineContext, live: Live): Promise<boolean> {
  const r = live.restart;
  if (r?.timer) {
    clearTimeout(r.timer);
    r.timer = undefined;
  }
  if (live.rec.state.status !== 'restarting') return false;
  return locked(live, async () => {
    if (live.rec.state.status !== 'restarting' || live.rec.runtimeCreated) return false;
    settleStopped(live);
    await persist(ctx, live);
    return true;
  });
}

/**
 * The user stopped or signalled the container. `final` (docker stop, or a kill with SIGKILL or the
 * stop signal): no policy restarts it until the user starts it again. Any signal counts as a manual
 * stop for `unless-stopped`.
 */
export function markUserStop(live: Live, final: boolean): void {
  live.rec.manuallyStopped = true;
  if (final) restartOf(live).stoppedByUser = true;
}

/** A user's start (or restart): the count and the back-off start over, as dockerd's reset. */
export function resetForUserStart(live: Live): void {
  const r = restartOf(live);
  clearTimeout(r.timer);
  live.restart = { lastDelayMs: 0, stoppedByUser: false };
  live.rec.restartCount = 0;
  live.rec.manuallyStopped = false;
}

/** Drops every pending back-off (the manager closes; the restarting state stays on disk for the next open). */
export function dropRestartTimers(ctx: EngineContext): void {
  for (const live of ctx.live.values()) {
    clearTimeout(live.restart?.timer);
    if (live.restart) live.restart.timer = undefined;
  }
}

/**
 * At open, after live restore: containers whose policy says so and that do not run are started
 * (those mid back-off too). Containers that never ran stay created. Resolves when all were tried.
 */
export async function restartAtBoot(ctx: EngineContext): Promise<void> {
  const due = [...ctx.live.values()].filter((live) => {
    const rec = live.rec;
    const policy = rec.hostConfig.restartPolicy;
    if (!policy || isNoRestart(policy) || live.removing || isRunning(live) || live.restart?.timer)
      return false;
    if (rec.state.status === 'created' || rec.state.startedAt === ZERO_TIME) return false;
    return startsAtBoot({
      policy,
      exitCode: rec.state.exitCode,
      restartCount: rec.restartCount,
      manuallyStopped: !!rec.manuallyStopped,
      wasRestarting: rec.state.status === 'restarting',
    });
  });
  await Promise.all(
    due.map((live) =>
      ctx.startByPolicy(live, 'boot').catch((e) => {
        settleStopped(live, (e as Error).message);
        return persist(ctx, live).catch(() => {});
      }),
    ),
  );
}
