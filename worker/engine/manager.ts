// ContainerManager: the engine's public face for the daemon and the executor. It keeps one
// record per container on disk, drives shoal-runtime and the per-container monitors, and
// recovers running containers from disk when constructed (live restore). The work is done by
// the parts it composes over one shared context (context.ts): create.ts, exits.ts, stop.ts,
// remove.ts, restore.ts, attach.ts, exec-run.ts; what is left here is start, pause, stats, logs,
// listing and renaming, which tie them together.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, type Stats } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  type Change,
  changes,
  type ExtractOptions,
  extractArchive,
  type PathStat,
  statPath,
  withArchive,
  withExport,
  withWritableLayer,
} from './archive/index.js';
import { abandonPendingAttaches, attach, bindPendingAttaches } from './attach.js';
import { type EngineContext, find, isRunning, type Live, locked, persist } from './context.js';
import { createContainer, runtimeCreate } from './create.js';
import { treeSize } from './disk-usage.js';
import { ConflictError, EngineError, InternalError, InvalidArgumentError } from './errors.js';
import { EXEC_RETENTION, ExecTable } from './exec.js';
import { checkSize, createExec, inspectExec, resizeExec, startExec } from './exec-run.js';
import { waitFor, watch } from './exits.js';
import { filesRoot } from './file-mounts.js';
import type { ProbeResult } from './health.js';
import { probe, startHealth, stopHealth } from './health-monitor.js';
import { boundingCapabilities, onlineCpus, systemCpuNs } from './host.js';
import { readLogs } from './logs.js';
import { normalizeName } from './names.js';
import { removeContainer } from './remove.js';
import { dropRestartTimers, resetForUserStart, restartAtBoot } from './restarts.js';
import { restore } from './restore.js';
import { Runtime } from './runtime.js';
import { baseSpec } from './spec/defaults.js';
import { spreadSubdirs } from './spread-dirs.js';
import { rfc3339Nano, runningState } from './state.js';
import { kill, stop } from './stop.js';
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
import { type UpdateOptions, updateContainer } from './update.js';
import { VolumeStore } from './volumes/store.js';

/** The health part of a state (kept across a start: its status starts over when probes start). */
const health = (s: { health?: unknown }) =>
  s.health ? { health: s.health as Container['state']['health'] } : {};

export interface ManagerEvents {
  event: [EngineEvent];
}

const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES = 5;

export class ContainerManager extends EventEmitter<ManagerEvents> {
  readonly dataRoot: string;
  readonly execRoot: string;
  private readonly ctx: EngineContext;
  /** The default seccomp filter being compiled into the runtime's cache (best effort; see open). */
  private seccompPreparing: Promise<void> = Promise.resolve();

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
      filesRoot: filesRoot(opts.execRoot),
      runtime: new Runtime(join(opts.execRoot, 'runtime')),
      logMaxSize: opts.logMaxSize ?? DEFAULT_LOG_MAX_SIZE,
      logMaxFiles: opts.logMaxFiles ?? DEFAULT_LOG_MAX_FILES,
      now,
      randomId,
      live: new Map(),
      names: new Map(),
      execs: new ExecTable(randomId, () => now().getTime(), { ...EXEC_RETENTION, ...opts.execRetention }),
      hostCaps: boundingCapabilities(),
      volumes: new VolumeStore({
        dataRoot: opts.dataRoot,
        now,
        randomName: () => randomBytes(32).toString('hex'),
        usersOf: (name) =>
          [...this.ctx.live.values()]
            .filter((l) => l.rec.mounts.some((m) => m.type === 'volume' && m.name === name))
            .map((l) => l.rec.id),
      }),
      ...(opts.networking ? { networking: opts.networking } : {}),
      closed: false,
      emitEvent: (action, rec, extra = {}) =>
        this.emit('event', {
          action,
          id: rec.id,
          attributes: { ...rec.config.labels, name: rec.name, image: rec.image, ...extra },
          timeMs: now().getTime(),
        }),
      remove: (ref, o) => this.remove(ref, o),
      startByPolicy: async (live, why) => {
        await this.startLive(live, why);
      },
    };
    // container dirs hold logs, specs and the rootfs mount: not for other users (fixed if older)
    const containers = join(this.dataRoot, 'containers');
    mkdirSync(containers, { recursive: true, mode: 0o710 });
    chmodSync(containers, 0o710);
    for (const d of readdirSync(containers, { withFileTypes: true }))
      if (d.isDirectory()) chmodSync(join(containers, d.name), 0o710);
    mkdirSync(this.ctx.runtime.root, { recursive: true, mode: 0o700 });
    chmodSync(this.ctx.runtime.root, 0o700);
  }

  /** Loads every container record under dataRoot and reconnects to running monitors (live restore). */
  static async open(opts: ManagerOptions): Promise<ContainerManager> {
    const m = new ContainerManager(opts);
    await spreadSubdirs(join(m.dataRoot, 'containers'));
    await restore(m.ctx);
    await restartAtBoot(m.ctx);
    // libseccomp compiles a filter once per exec root (~10-13 ms, the runtime caches it): done now, in the
    // background, for the default one every container without --cap-add/--cap-drop/--privileged uses, so
    // that a node's first container does not pay for it. Best effort: a create compiles what is missing.
    const seccomp = baseSpec('/').linux?.seccomp; // the filter of a container with docker's defaults
    if (seccomp) m.seccompPreparing = m.ctx.runtime.prepareSeccomp(seccomp).catch(() => {});
    return m;
  }

  /** Settles once the default seccomp filter compiled at open is in the runtime's cache (or failed to be). */
  seccompPrepared(): Promise<void> {
    return this.seccompPreparing;
  }

  /** Creates (does not start) a container. Throws InvalidArgumentError / ConflictError; leaves nothing on failure. */
  async create(opts: CreateOptions): Promise<{ id: string; name: string; warnings: string[] }> {
    return createContainer(this.ctx, opts);
  }

  // ---------------------------------------------------------------- lifecycle

  /** False when there was nothing to do (already running, or a restart pending): dockerd's 304. */
  async start(ref: string): Promise<boolean> {
    return this.startLive(find(this.ctx, ref), 'user');
  }

  /** A user's start resets the restart count; a restart policy's (`policy`, `boot`) keeps it. */
  private async startLive(live: Live, why: 'user' | 'policy' | 'boot'): Promise<boolean> {
    return locked(live, async () => {
      const rec = live.rec;
      if (live.removing) throw new ConflictError(`container ${rec.name} is being removed`);
      if (rec.state.status === 'running') return false;
      // A pending restart counts as running; one called off meanwhile stays stopped.
      if (rec.state.status === 'restarting' ? why === 'user' : why === 'policy') return false;
      if (why === 'user') resetForUserStart(live);
      if (rec.state.status === 'paused')
        throw new ConflictError(`cannot start a paused container ${rec.name}, try unpause instead`);
      // The network first (veth, address, ports): a refusal (port in use) leaves the container as it was.
      await this.ctx.networking?.connect(rec.id);
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
        rec.state = {
          ...runningState(st.status === 'stopped' ? 0 : st.pid, startedAt),
          ...health(rec.state),
        };
        if (st.status !== 'stopped') startHealth(this.ctx, live);
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
      return true;
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
  /** False when it was not running (dockerd's 304). */
  async stop(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<boolean> {
    return stop(this.ctx, find(this.ctx, ref), opts);
  }

  async restart(ref: string, opts: { timeoutSec?: number } = {}): Promise<void> {
    const live = find(this.ctx, ref);
    await this.stop(live.rec.id, opts);
    await this.start(live.rec.id); // as dockerd, a user's restart starts the restart count over
    this.ctx.emitEvent('restart', live.rec);
  }

  /** The writable overlay dir of an image-based container (its changes), for `build`'s layer commit. */
  upperDir(ref: string): string | undefined {
    return find(this.ctx, ref).rec.overlay?.upper;
  }

  /** A path's stat in the container (HEAD /containers/{id}/archive); NotFoundError when missing. */
  statPath(ref: string, path: string): Promise<PathStat> {
    return statPath(this.ctx, ref, path);
  }

  /** A path as a tar (docker cp out of the container); see archive/index.ts for the lock it holds. */
  withArchive<T>(
    ref: string,
    path: string,
    fn: (stat: PathStat, tar: AsyncIterable<Buffer>) => Promise<T>,
  ): Promise<T> {
    return withArchive(this.ctx, ref, path, fn);
  }

  /** Extracts a tar into the directory `path` of the container (docker cp into it). */
  extractArchive(
    ref: string,
    path: string,
    tar: AsyncIterable<Buffer>,
    opts: ExtractOptions = {},
  ): Promise<void> {
    return extractArchive(this.ctx, ref, path, tar, opts);
  }

  /** The root filesystem as a tar (docker export). */
  withExport<T>(ref: string, fn: (tar: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
    return withExport(this.ctx, ref, fn);
  }

  /** The writable layer's changes against the image (docker diff). */
  changes(ref: string): Promise<Change[]> {
    return changes(this.ctx, ref);
  }

  /** The writable layer as of one moment (docker commit; `pause` freezes a running container meanwhile). */
  withWritableLayer<T>(
    ref: string,
    pause: boolean,
    fn: (upper: string, container: Container, omit: (rel: string, st: Stats) => boolean) => Promise<T>,
  ): Promise<T> {
    return withWritableLayer(this.ctx, ref, pause, fn);
  }

  /** The local volume driver: create, list, inspect, remove, prune (in use = named by a container's mounts). */
  get volumes(): VolumeStore {
    return this.ctx.volumes;
  }

  /** Without force a running container is a ConflictError; removeVolumes also removes its anonymous volumes. */
  async remove(ref: string, opts: { force?: boolean; removeVolumes?: boolean } = {}): Promise<void> {
    return removeContainer(this.ctx, find(this.ctx, ref), opts);
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
      .filter((l) => opts.all || isRunning(l) || l.rec.state.status === 'restarting')
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

  /** Bytes in the container's writable layer (docker's SizeRw); 0 for a container on a rootfs directory. */
  async writableSize(ref: string): Promise<number> {
    const overlay = find(this.ctx, ref).rec.overlay;
    return overlay ? treeSize(overlay.upper) : 0;
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
    return createExec(this.ctx, find(this.ctx, ref), opts);
  }

  /**
   * Starts an exec. detach → resolves null once started; otherwise a duplex like attach's
   * (raw with tty, multiplexed without), which ends when the process exits.
   */
  async execStart(execId: string, opts: { detach?: boolean; tty?: boolean } = {}): Promise<Duplex | null> {
    return startExec(this.ctx, execId, opts);
  }

  async execInspect(execId: string): Promise<ExecInfo> {
    return inspectExec(this.ctx, execId);
  }

  async execResize(execId: string, height: number, width: number): Promise<void> {
    return resizeExec(this.ctx, execId, height, width);
  }

  /**
   * Changes a container's restart policy (`docker update --restart`), in effect from its next exit.
   * Refused with auto-remove, as dockerd.
   */
  /** `docker update`: the restart policy and cgroup limits (see update.ts). */
  async update(ref: string, opts: UpdateOptions): Promise<void> {
    return updateContainer(this.ctx, find(this.ctx, ref), opts);
  }

  /** Runs one health-check probe (an exec) in a running container: exit code and the output's last 4 KiB. */
  async probe(ref: string, cmd: string[], timeoutMs: number): Promise<ProbeResult> {
    return probe(this.ctx, find(this.ctx, ref), cmd, timeoutMs);
  }

  /** Drops monitor connections and watchers; containers keep running (live restore picks them up). */
  async close(): Promise<void> {
    this.ctx.closed = true;
    dropRestartTimers(this.ctx);
    for (const live of this.ctx.live.values()) {
      stopHealth(live);
      live.watch?.abort();
      live.watch = undefined;
      abandonPendingAttaches(live);
    }
    // Let in-flight record writes and post-exit cleanups finish: a restarted manager must not race them.
    await Promise.all([...this.ctx.live.values()].flatMap((l) => [l.saving, l.cleanup]));
    await this.seccompPreparing; // its runtime process writes under the exec root
  }
}
