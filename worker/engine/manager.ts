// ContainerManager: the engine's public face for the daemon and the executor. It keeps one
// record per container on disk, drives shoal-runtime and the per-container monitors, and
// recovers running containers from disk when constructed (live restore). The work is done by
// the parts it composes over one shared context: create.ts, exits.ts, stop.ts, restore.ts,
// attach.ts; what is left here is the lifecycle that ties them together.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { abandonPendingAttaches, attach, bindPendingAttaches } from './attach.js';
import {
  type EngineContext,
  find,
  isRunning,
  type Live,
  locked,
  persist,
  rootfsLayers,
  specOf,
} from './context.js';
import { createContainer, runtimeCreate } from './create.js';
import { ConflictError, EngineError, InternalError, InvalidArgumentError, NotFoundError } from './errors.js';
import { ExecTable } from './exec.js';
import { nextExit, waitFor, watch } from './exits.js';
import { boundingCapabilities, onlineCpus, systemCpuNs } from './host.js';
import { readLogs } from './logs.js';
import { MonitorGoneError, MonitorRequestError } from './monitor-client.js';
import { normalizeName } from './names.js';
import { classifyRuntimeFailure } from './native.js';
import { restore } from './restore.js';
import { Runtime } from './runtime.js';
import { parseConsoleSize } from './spec/parse.js';
import { rfc3339Nano, runningState, waitResult } from './state.js';
import { kill, signalInit, stop } from './stop.js';
import type {
  Container,
  ContainerStats,
  CreateOptions,
  EngineEvent,
  ExecInfo,
  ExecOptions,
  LogEntry,
  LogOptions,
  ManagerOptions,
  WaitCondition,
  WaitResult,
} from './types.js';

export interface ManagerEvents {
  event: [EngineEvent];
}

const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES = 5;

export class ContainerManager extends EventEmitter<ManagerEvents> {
  readonly dataRoot: string;
  readonly execRoot: string;
  private readonly ctx: EngineContext;

  protected constructor(opts: ManagerOptions) {
    super();
    if (!isAbsolute(opts.dataRoot))
      throw new InvalidArgumentError('dataRoot', `${opts.dataRoot} is not absolute`);
    if (!isAbsolute(opts.execRoot))
      throw new InvalidArgumentError('execRoot', `${opts.execRoot} is not absolute`);
    this.dataRoot = opts.dataRoot;
    this.execRoot = opts.execRoot;
    const now = opts.now ?? (() => new Date());
    const randomId = opts.randomId ?? (() => randomBytes(32).toString('hex'));
    this.ctx = {
      dataRoot: opts.dataRoot,
      runtime: new Runtime(join(opts.execRoot, 'runtime')),
      logMaxSize: opts.logMaxSize ?? DEFAULT_LOG_MAX_SIZE,
      logMaxFiles: opts.logMaxFiles ?? DEFAULT_LOG_MAX_FILES,
      now,
      randomId,
      live: new Map(),
      names: new Map(),
      execs: new ExecTable(randomId),
      hostCaps: boundingCapabilities(),
      closed: false,
      emitEvent: (action, rec, extra = {}) =>
        this.emit('event', {
          action,
          id: rec.id,
          attributes: { ...rec.config.labels, name: rec.name, image: rec.image, ...extra },
          timeMs: now().getTime(),
        }),
      remove: (ref, o) => this.remove(ref, o),
    };
    mkdirSync(join(this.dataRoot, 'containers'), { recursive: true, mode: 0o710 });
    mkdirSync(this.ctx.runtime.root, { recursive: true, mode: 0o700 });
  }

  /** Loads every container record under dataRoot and reconnects to running monitors (live restore). */
  static async open(opts: ManagerOptions): Promise<ContainerManager> {
    const m = new ContainerManager(opts);
    await restore(m.ctx);
    return m;
  }

  /** Creates (does not start) a container. Throws InvalidArgumentError / ConflictError; leaves nothing on failure. */
  async create(opts: CreateOptions): Promise<{ id: string; name: string; warnings: string[] }> {
    return createContainer(this.ctx, opts);
  }

  // ---------------------------------------------------------------- lifecycle

  async start(ref: string): Promise<void> {
    const live = find(this.ctx, ref);
    return locked(live, async () => {
      const rec = live.rec;
      if (live.removing) throw new ConflictError(`container ${rec.name} is being removed`);
      if (rec.state.status === 'running') return; // docker answers 304: nothing to do
      if (rec.state.status === 'paused')
        throw new ConflictError(`cannot start a paused container ${rec.name}, try unpause instead`);
      if (!rec.runtimeCreated) {
        // A container that ran before: a fresh runtime container on the same bundle.
        await live.cleanup;
        await runtimeCreate(this.ctx, rec);
        rec.runtimeCreated = true;
        await persist(this.ctx, live);
        watch(this.ctx, live);
      }
      await bindPendingAttaches(live);
      const startedAt = rfc3339Nano(this.ctx.now());
      const starting = (async () => {
        const started = await live.monitor.start();
        // A process that exits at once is still "started"; its pid is then 0.
        const st =
          started.pid !== undefined
            ? { status: started.pid > 0 ? 'running' : 'stopped', pid: started.pid }
            : await live.monitor.state().catch(() => ({ status: 'stopped', pid: 0 }));
        rec.state = runningState(st.status === 'stopped' ? 0 : st.pid, startedAt);
        // Not awaited: the record write is ordered after this one anyway, and after a crash the
        // monitor's state tells a restarted manager that the container runs.
        persist(this.ctx, live).catch(() => {});
        this.ctx.emitEvent('start', rec);
      })();
      live.starting = starting;
      try {
        await starting;
      } catch (e) {
        rec.state.error = (e as Error).message;
        await persist(this.ctx, live);
        if (e instanceof EngineError) throw e;
        throw new InternalError(`starting container ${rec.name}: ${(e as Error).message}`, { cause: e });
      } finally {
        if (live.starting === starting) live.starting = undefined;
      }
    });
  }

  /** Resolves when the condition is met; rejects with NotFoundError if the container does not exist. */
  async wait(
    ref: string,
    condition: WaitCondition = 'not-running',
    signal?: AbortSignal,
  ): Promise<WaitResult> {
    return waitFor(find(this.ctx, ref), condition, signal);
  }

  /** `signal` as number, "TERM" or "SIGTERM"; default SIGKILL (as docker kill). */
  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    return kill(this.ctx, find(this.ctx, ref), signal);
  }

  /** Sends the stop signal, waits `timeoutSec` (default: container's stopTimeout or 10), then SIGKILL. */
  async stop(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<void> {
    return stop(this.ctx, find(this.ctx, ref), opts);
  }

  async restart(ref: string, opts: { timeoutSec?: number } = {}): Promise<void> {
    const live = find(this.ctx, ref);
    await this.stop(live.rec.id, opts);
    await this.start(live.rec.id);
    live.rec.restartCount++;
    await persist(this.ctx, live);
    this.ctx.emitEvent('restart', live.rec);
  }

  /** Without force a running container is a ConflictError. */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const live = find(this.ctx, ref);
    const rec = live.rec;
    if (live.removing) throw new ConflictError(`removal of container ${rec.name} is already in progress`);
    if (isRunning(live)) {
      if (!opts.force)
        throw new ConflictError(
          `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`,
        );
      const exited = nextExit(live);
      await signalInit(this.ctx, live, 9);
      await exited;
    }
    return locked(live, async () => {
      if (live.removing) return;
      live.removing = true;
      rec.state.status = 'removing';
      live.watch?.abort();
      live.watch = undefined;
      await live.cleanup;
      try {
        // A created (never started) container still has a monitor and a blocked init.
        if (rec.runtimeCreated || existsSync(this.ctx.runtime.stateDir(rec.id)))
          await this.ctx.runtime.delete(rec.id, true);
      } catch (e) {
        live.removing = false;
        rec.state.status = 'dead';
        rec.state.dead = true;
        rec.state.error = (e as Error).message;
        throw e;
      }
      await rm(rec.bundle, { recursive: true, force: true });
      this.ctx.live.delete(rec.id);
      abandonPendingAttaches(live);
      if (this.ctx.names.get(rec.name) === rec.id) this.ctx.names.delete(rec.name);
      this.ctx.execs.containerRemoved(rec.id);
      this.ctx.emitEvent('destroy', rec);
      const result = waitResult(rec.state);
      for (const l of live.exitListeners.splice(0)) l(result);
      for (const l of live.removedListeners.splice(0)) l(result);
    });
  }

  async pause(ref: string): Promise<void> {
    const live = find(this.ctx, ref);
    return locked(live, async () => {
      const rec = live.rec;
      if (rec.state.status === 'paused') throw new ConflictError(`Container ${rec.id} is already paused`);
      if (rec.state.status !== 'running') throw new ConflictError(`Container ${rec.id} is not running`);
      await live.monitor.pause();
      rec.state.status = 'paused';
      rec.state.paused = true;
      await persist(this.ctx, live);
      this.ctx.emitEvent('pause', rec);
    });
  }

  async unpause(ref: string): Promise<void> {
    const live = find(this.ctx, ref);
    return locked(live, async () => {
      const rec = live.rec;
      if (rec.state.status !== 'paused') throw new ConflictError(`Container ${rec.id} is not paused`);
      await live.monitor.resume();
      rec.state.status = 'running';
      rec.state.paused = false;
      await persist(this.ctx, live);
      this.ctx.emitEvent('unpause', rec);
    });
  }

  /** Usage counters; all zero for a container that is not running (as docker). */
  async stats(ref: string): Promise<ContainerStats> {
    const live = find(this.ctx, ref);
    const host = { systemCpuNs: systemCpuNs(), onlineCpus: onlineCpus() };
    if (!isRunning(live))
      return {
        read: rfc3339Nano(this.ctx.now()),
        memory: { usage: 0, limit: 0, maxUsage: 0, failcnt: 0 },
        cpu: { usageNs: 0, userNs: 0, systemNs: 0, periods: 0, throttledPeriods: 0, throttledNs: 0 },
        pids: { current: 0, limit: 0 },
        ...host,
      };
    try {
      return { ...(await live.monitor.stats()), ...host };
    } catch (e) {
      throw new InternalError(`stats of container ${live.rec.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Pids of processes in the container's cgroup. */
  async top(ref: string): Promise<number[]> {
    const live = find(this.ctx, ref);
    if (!isRunning(live)) throw new ConflictError(`Container ${live.rec.id} is not running`);
    return this.ctx.runtime.ps(live.rec.id);
  }

  /** Sets the container's TTY size. */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const live = find(this.ctx, ref);
    checkSize(height, width);
    if (!live.rec.runtimeCreated) throw new ConflictError(`Container ${live.rec.id} is not running`);
    await live.monitor.resize(height, width);
  }

  /**
   * Attaches to the container's stdio. The returned duplex carries, from the container, raw terminal
   * bytes (tty) or Docker's multiplexed frames (no tty); writes go to stdin, end() closes stdin.
   * A container that is not running yet (created after a reboot, or exited) gets a stream that
   * binds to the next start's process, as dockerd's (`docker start -a` attaches first).
   */
  async attach(ref: string, opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean }): Promise<Duplex> {
    return attach(this.ctx, find(this.ctx, ref), opts);
  }

  /** Reads the json-file log (across rotated files); with follow, until the container stops or opts.signal aborts. */
  logs(ref: string, opts: LogOptions = {}): AsyncIterable<LogEntry> {
    const live = find(this.ctx, ref);
    if (opts.tail !== undefined && opts.tail !== 'all' && (!Number.isInteger(opts.tail) || opts.tail < 0))
      throw new InvalidArgumentError('tail', `${opts.tail} is not a number of lines`);
    return readLogs(live.rec.logPath, this.ctx.logMaxFiles, opts, {
      isRunning: () => live.rec.runtimeCreated && !live.removing,
      // Through wait() so an aborted follow drops its listener.
      exited: () => this.wait(live.rec.id, 'next-exit', opts.signal),
    });
  }

  /** All containers (all=false: only running/paused), newest first. */
  list(opts: { all?: boolean } = {}): Container[] {
    return [...this.ctx.live.values()]
      .filter((l) => opts.all || isRunning(l))
      .sort((a, b) => (a.rec.created < b.rec.created ? 1 : a.rec.created > b.rec.created ? -1 : 0))
      .map((l) => this.view(l));
  }

  /** By full id, unique id prefix, or name (with or without leading "/"). */
  inspect(ref: string): Container {
    return this.view(find(this.ctx, ref));
  }

  private view(live: Live): Container {
    const { cgroupsPath: _c, overlay: _o, runtimeCreated: _r, ...c } = live.rec;
    return structuredClone({ ...c, execIds: this.ctx.execs.idsOf(live.rec.id) });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const live = find(this.ctx, ref);
    const name = normalizeName(newName);
    if (name === live.rec.name) return;
    const taken = this.ctx.names.get(name);
    if (taken)
      throw new ConflictError(
        `Conflict. The container name "/${name}" is already in use by container "${taken}"`,
      );
    const old = live.rec.name;
    this.ctx.names.set(name, live.rec.id);
    this.ctx.names.delete(old);
    live.rec.name = name;
    await persist(this.ctx, live);
    this.ctx.emitEvent('rename', live.rec, { oldName: `/${old}` });
  }

  // ---------------------------------------------------------------- exec

  execCreate(ref: string, opts: ExecOptions): string {
    const live = find(this.ctx, ref);
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
    const id = this.ctx.execs.add(rec.id, { ...opts, consoleSize });
    this.ctx.emitEvent('exec_create', rec, { execID: id });
    return id;
  }

  /**
   * Starts an exec. detach → resolves null once started; otherwise a duplex like attach's
   * (raw with tty, multiplexed without), which ends when the process exits.
   */
  async execStart(execId: string, opts: { detach?: boolean; tty?: boolean } = {}): Promise<Duplex | null> {
    const ex = this.ctx.execs.get(execId);
    const live = this.ctx.live.get(ex.containerId);
    if (!live) throw new NotFoundError(`No such exec instance: ${execId}`);
    if (ex.started) throw new ConflictError(`exec ${execId} has already been started`);
    if (live.rec.state.status !== 'running')
      throw new ConflictError(`Container ${live.rec.id} is not running`);
    const tty = opts.tty ?? !!ex.options.tty;
    const process = this.ctx.execs.processFor(ex, {
      spec: specOf(live),
      rootfsLayers: rootfsLayers(live.rec),
      tty,
      configEnv: live.rec.config.env,
      privilegedCaps: this.ctx.hostCaps,
    });
    ex.started = true;
    try {
      const r = await live.monitor.exec(process, !!opts.detach);
      ex.monitorExecId = r.execId;
      ex.pid = r.pid;
      ex.running = true;
      this.ctx.emitEvent('exec_start', live.rec, { execID: execId });
      const done = async () => {
        await this.ctx.execs.refresh(ex, live.monitor);
        if (!ex.running)
          this.ctx.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
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
      ex.exitCode = err.kind === 'exec-not-found' ? 127 : err.kind === 'exec-permission' ? 126 : 126;
      ex.running = false;
      this.ctx.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
      throw err;
    }
  }

  async execInspect(execId: string): Promise<ExecInfo> {
    const ex = this.ctx.execs.get(execId);
    const live = this.ctx.live.get(ex.containerId);
    if (ex.running && live) await this.ctx.execs.refresh(ex, live.monitor);
    return {
      id: ex.id,
      containerId: ex.containerId,
      running: ex.running,
      exitCode: ex.exitCode,
      pid: ex.pid,
      options: structuredClone(ex.options),
    };
  }

  async execResize(execId: string, height: number, width: number): Promise<void> {
    const ex = this.ctx.execs.get(execId);
    checkSize(height, width);
    const live = this.ctx.live.get(ex.containerId);
    if (!live || !ex.running || !ex.monitorExecId) throw new ConflictError(`exec ${execId} is not running`);
    await live.monitor.resize(height, width, ex.monitorExecId);
  }

  /** Drops monitor connections and watchers; containers keep running (live restore picks them up). */
  async close(): Promise<void> {
    this.ctx.closed = true;
    for (const live of this.ctx.live.values()) {
      live.watch?.abort();
      live.watch = undefined;
      abandonPendingAttaches(live);
    }
    // Let in-flight record writes and post-exit cleanups finish: a restarted manager must not race them.
    await Promise.all([...this.ctx.live.values()].flatMap((l) => [l.saving, l.cleanup]));
  }
}

function checkSize(height: number, width: number): void {
  for (const [k, v] of [
    ['height', height],
    ['width', width],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 65535)
      throw new InvalidArgumentError(k, `${v} is not a terminal size`);
}
