// Exit tracking: one open `wait` request per monitor, the processing of an exit (report, record,
// clean up, auto-remove), and the waiters of docker's wait conditions.

import { finished } from 'node:stream/promises';
import { type EngineContext, isRunning, type Live, persist } from './context.js';
import { InvalidArgumentError } from './errors.js';
import { stopHealth } from './health-monitor.js';
import { MonitorGoneError } from './monitor-client.js';
import { decideAfterExit, scheduleRestart } from './restarts.js';
import { type ExitReport, exitedState, rfc3339Nano, waitResult } from './state.js';
import type { WaitCondition, WaitResult } from './types.js';

/** Keeps one `wait` request open on the monitor; its reply is the container's exit. */
export function watch(ctx: EngineContext, live: Live): void {
  if (live.watch || ctx.closed) return;
  const ac = new AbortController();
  live.watch = ac;
  live.monitor.wait(ac.signal).then(
    (exit) => {
      if (live.watch === ac) live.watch = undefined;
      void onExit(ctx, live, exit);
    },
    (err) => {
      if (live.watch === ac) live.watch = undefined;
      if (ac.signal.aborted) return;
      if (err instanceof MonitorGoneError) void monitorGone(ctx, live);
      else {
        // A transient socket error: look again shortly rather than lose the exit.
        setTimeout(() => watch(ctx, live), 200).unref();
      }
    },
  );
}

/** The monitor is unreachable: it wrote exit.json before leaving, or it died. */
export async function monitorGone(ctx: EngineContext, live: Live): Promise<void> {
  const exit = ctx.runtime.readExit(live.rec.id);
  if (exit) return onExit(ctx, live, exit);
  // Monitor socket gone without an exit record: could be a monitor between create and listen.
  const again = await live.monitor.state().catch(() => undefined);
  if (again) return watch(ctx, live);
  if (live.rec.state.status === 'created' && !live.starting) {
    // Never started (e.g. the host rebooted): nothing ran, so it stays created; start re-creates it.
    live.rec.runtimeCreated = false;
    await ctx.runtime.delete(live.rec.id, true).catch(() => {});
    await persist(ctx, live).catch(() => {});
    return;
  }
  return onExit(ctx, live, {
    exitCode: 255,
    signal: null,
    oomKilled: false,
    finishedAt: rfc3339Nano(ctx.now()),
    error: 'the container monitor disappeared without reporting an exit status',
  });
}

export async function onExit(ctx: EngineContext, live: Live, exit: ExitReport): Promise<void> {
  const rec = live.rec;
  if (!rec.runtimeCreated) return; // already processed (restore and watcher racing)
  rec.runtimeCreated = false;
  if (live.starting) await live.starting.catch(() => {});
  rec.state = exitedState(rec.state, exit, ctx.now());
  stopHealth(live);
  // The restart policy decides before anyone sees the exit: a container to restart is never "exited".
  const restartIn = decideAfterExit(ctx, live);
  const exitCode = rec.state.exitCode;
  // Report first (waiters see the exit at once), then record it, then clean up the runtime
  // state: until that last step exit.json survives, so a crash anywhere loses nothing.
  // As dockerd: the output an attached client is owed goes through before anyone hears of the exit (the
  // monitor sends it before the exit, but on another connection, which this process may read first).
  await attachesDrained(live, ATTACH_DRAIN_MS);
  if (exit.oomKilled) ctx.emitEvent('oom', rec);
  ctx.emitEvent('die', rec, { exitCode: String(exitCode) });
  const result = waitResult(rec.state);
  for (const l of live.exitListeners.splice(0)) l(result);
  ctx.execs.containerExited(rec.id);
  live.cleanup = (async () => {
    try {
      await persist(ctx, live);
      await ctx.runtime.delete(rec.id, true);
      await ctx.networking?.disconnect(rec.id);
    } catch (e) {
      rec.state.error = rec.state.error || `cleanup after exit failed: ${(e as Error).message}`;
    }
  })();
  await live.cleanup;
  if (restartIn !== undefined) return scheduleRestart(ctx, live, restartIn);
  if (rec.hostConfig.autoRemove && !live.removing && !ctx.closed)
    await ctx.remove(rec.id, { force: true, removeVolumes: true }).catch(() => {});
}

/** How long an exit waits for attached clients' output (a stalled client must not hold it up). */
const ATTACH_DRAIN_MS = 2000;

/** Resolves once every open attach stream has ended (the monitor closes them after init's output), or after `ms`. */
async function attachesDrained(live: Live, ms: number): Promise<void> {
  const open = [...live.attached].filter((s) => !s.readableEnded && !s.destroyed);
  if (open.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(open.map((s) => finished(s, { writable: false }).catch(() => {}))),
    new Promise((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** A promise for the next processed exit (registered before acting, so it cannot be missed). */
export function nextExit(live: Live): Promise<WaitResult> {
  return new Promise((resolve) => live.exitListeners.push(resolve));
}

/** Resolves when the condition is met; an aborted wait forgets its listener. */
export function waitFor(live: Live, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
  let list: ((r: WaitResult) => void)[];
  if (condition === 'removed') list = live.removedListeners;
  else if (condition === 'next-exit') list = live.exitListeners;
  else if (condition === 'not-running') {
    // A container waiting to restart counts as running (dockerd's Running is true then).
    if (!isRunning(live) && live.rec.state.status !== 'restarting')
      return Promise.resolve(waitResult(live.rec.state));
    list = live.exitListeners;
  } else
    throw new InvalidArgumentError('condition', `"${condition}" is not not-running, next-exit or removed`);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      // Forget the listener so an abandoned wait (the client went away) holds nothing.
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
      reject(signal?.reason ?? new Error('wait aborted'));
    };
    const listener = (r: WaitResult) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    if (signal?.aborted) return onAbort();
    list.push(listener);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
