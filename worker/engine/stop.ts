// Stop and kill semantics: signalling init (an init that exited meanwhile is not an error), and
// stop's stop signal → timeout → SIGKILL escalation.
import { type EngineContext, isRunning, type Live } from './context.js';
import { ConflictError, InternalError, InvalidArgumentError } from './errors.js';
import { nextExit } from './exits.js';
import { MonitorGoneError, MonitorRequestError } from './monitor-client.js';
import { classifyRuntimeFailure } from './native.js';
import { cancelRestart, markUserStop } from './restarts.js';
import { parseSignal } from './spec/parse.js';

/** `signal` as number, "TERM" or "SIGTERM" (already defaulted by the caller). */
export async function kill(ctx: EngineContext, live: Live, signal: string | number): Promise<void> {
  const sig = parseSignal('signal', signal);
  const stopSig = parseSignal('signal', live.rec.config.stopSignal).number;
  // A kill during a restart back-off calls the restart off (as dockerd: the signal has no process).
  if (live.rec.state.status === 'restarting') {
    markUserStop(live, true);
    if (await cancelRestart(ctx, live)) return;
  }
  if (!isRunning(live)) throw new ConflictError(`Container ${live.rec.id} is not running`);
  markUserStop(live, sig.number === 9 || sig.number === stopSig);
  await signalInit(ctx, live, sig.number);
}

/** Signals init (emitting docker's "kill" event); an init that exited meanwhile is not an error. */
export async function signalInit(ctx: EngineContext, live: Live, sig: number): Promise<void> {
  try {
    await live.monitor.kill(sig);
    ctx.emitEvent('kill', live.rec, { signal: String(sig) });
    // A frozen process only dies once thawed.
    if (live.rec.state.status === 'paused' && sig === 9) await live.monitor.resume().catch(() => {});
  } catch (e) {
    // Exited meanwhile: the watcher reports the exit.
    if (e instanceof MonitorGoneError) return;
    if (
      e instanceof MonitorRequestError &&
      classifyRuntimeFailure(e.message, -1).runtimeKind === 'not-running'
    )
      return;
    throw new InternalError(`signalling container ${live.rec.name}: ${(e as Error).message}`, { cause: e });
  }
}

/** Sends the stop signal, waits `timeoutSec` (default: container's stopTimeout or 10), then SIGKILL. */
export async function stop(
  ctx: EngineContext,
  live: Live,
  opts: { timeoutSec?: number; signal?: string },
): Promise<boolean> {
  // Marked before a restart is called off: a restart starting meanwhile is then stopped for good.
  if (isRunning(live) || live.rec.state.status === 'restarting') markUserStop(live, true);
  if (await cancelRestart(ctx, live)) {
    ctx.emitEvent('stop', live.rec);
    return true;
  }
  if (!isRunning(live)) return false;
  const sig = parseSignal('signal', opts.signal ?? live.rec.config.stopSignal);
  const timeout = opts.timeoutSec ?? live.rec.config.stopTimeout;
  if (!Number.isFinite(timeout))
    throw new InvalidArgumentError('timeout', `${opts.timeoutSec} is not a number`);
  const exited = nextExit(live);
  await signalInit(ctx, live, sig.number);
  if (live.rec.state.status === 'paused') await live.monitor.resume().catch(() => {});
  if (timeout >= 0) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeout * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) await signalInit(ctx, live, 9);
  }
  await exited;
  ctx.emitEvent('stop', live.rec);
  return true;
}
