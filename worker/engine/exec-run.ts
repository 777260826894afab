// Exec instances against a running container: validation at create, the monitor's exec at start
// (events, exit codes 126/127 as docker), inspect and resize. The instances live in exec.ts's table.
import type { Duplex } from 'node:stream';
import { type EngineContext, type Live, rootfsLayers, specOf } from './context.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { MonitorGoneError, MonitorRequestError } from './monitor-client.js';
import { classifyRuntimeFailure } from './native.js';
import { parseConsoleSize } from './spec/parse.js';
import type { ExecInfo, ExecOptions } from './types.js';

export function createExec(ctx: EngineContext, live: Live, opts: ExecOptions): string {
  const rec = live.rec;
  if (rec.state.status === 'paused')
    throw new ConflictError(`Container ${rec.id} is paused, unpause the container before exec`);
  if (rec.state.status !== 'running') throw new ConflictError(`Container ${rec.id} is not running`);
  if (!Array.isArray(opts.cmd) || opts.cmd.length === 0 || opts.cmd[0] === '')
    throw new InvalidArgumentError('cmd', 'no command specified for exec');
  for (const e of opts.env ?? [])
    if (e.indexOf('=') <= 0) throw new InvalidArgumentError('env', `"${e}" is not KEY=VALUE`);
  if (opts.workingDir && !opts.workingDir.startsWith('/'))
    throw new InvalidArgumentError('workingDir', `"${opts.workingDir}" must be an absolute path`);
  const consoleSize = parseConsoleSize('consoleSize', opts.consoleSize);
  const id = ctx.execs.add(rec.id, { ...opts, consoleSize });
  ctx.emitEvent('exec_create', rec, { execID: id });
  return id;
}

/**
 * Starts an exec. detach → resolves null once started; otherwise a duplex like attach's
 * (raw with tty, multiplexed without), which ends when the process exits.
 */
export async function startExec(
  ctx: EngineContext,
  execId: string,
  opts: { detach?: boolean; tty?: boolean },
): Promise<Duplex | null> {
  const ex = ctx.execs.get(execId);
  const live = ctx.live.get(ex.containerId);
  if (!live) throw new NotFoundError(`No such exec instance: ${execId}`);
  if (ex.started) throw new ConflictError(`exec ${execId} has already been started`);
  if (live.rec.state.status !== 'running') throw new ConflictError(`Container ${live.rec.id} is not running`);
  const tty = opts.tty ?? !!ex.options.tty;
  const process = ctx.execs.processFor(ex, {
    spec: specOf(live),
    rootfsLayers: rootfsLayers(live.rec),
    tty,
    configEnv: live.rec.config.env,
    privilegedCaps: ctx.hostCaps,
  });
  ex.started = true;
  try {
    const r = await live.monitor.exec(process, !!opts.detach);
    ex.monitorExecId = r.execId;
    ex.pid = r.pid;
    ex.running = true;
    ctx.emitEvent('exec_start', live.rec, { execID: execId });
    const done = async () => {
      await ctx.execs.refresh(ex, live.monitor);
      if (!ex.running) ctx.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
    };
    if (r.stream) r.stream.once('close', () => void done());
    return r.stream;
  } catch (e) {
    if (e instanceof MonitorGoneError) {
      ex.started = false;
      throw new ConflictError(`Container ${live.rec.id} is not running`);
    }
    if (!(e instanceof MonitorRequestError)) throw e;
    // The monitor's own line, typed as the runtime's errors are; like docker, the exec then
    // counts as finished with 127 (not found) or 126 (not executable).
    const err = classifyRuntimeFailure(e.message, -1);
    ctx.execs.finished(ex, err.runtimeKind === 'exec-not-found' ? 127 : 126);
    ctx.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
    throw err;
  }
}

export async function inspectExec(ctx: EngineContext, execId: string): Promise<ExecInfo> {
  const ex = ctx.execs.get(execId);
  const live = ctx.live.get(ex.containerId);
  if (ex.running && live) await ctx.execs.refresh(ex, live.monitor);
  return {
    id: ex.id,
    containerId: ex.containerId,
    running: ex.running,
    exitCode: ex.exitCode,
    pid: ex.pid,
    options: structuredClone(ex.options),
  };
}

export async function resizeExec(
  ctx: EngineContext,
  execId: string,
  height: number,
  width: number,
): Promise<void> {
  const ex = ctx.execs.get(execId);
  checkSize(height, width);
  const live = ctx.live.get(ex.containerId);
  if (!live || !ex.running || !ex.monitorExecId) throw new ConflictError(`exec ${execId} is not running`);
  await live.monitor.resize(height, width, ex.monitorExecId);
}

/** A terminal size (container or exec resize). */
export function checkSize(height: number, width: number): void {
  for (const [k, v] of [
    ['height', height],
    ['width', width],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 65535)
      throw new InvalidArgumentError(k, `${v} is not a terminal size`);
}
