// ContainerManager: the engine's public face for the daemon and the executor. It keeps one
// record per container on disk, drives shoal-runtime and the per-container monitors, and
// recovers running containers from disk when constructed (live restore).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { DeferredStream } from './deferred-stream.js';
import { ConflictError, EngineError, InternalError, InvalidArgumentError, NotFoundError } from './errors.js';
import { ExecTable } from './exec.js';
import { boundingCapabilities, hostDevices, onlineCpus, systemCpuNs } from './host.js';
import { readLogs } from './logs.js';
import { MonitorClient, MonitorGoneError, MonitorRequestError } from './monitor-client.js';
import { generateName, normalizeName } from './names.js';
import { classifyRuntimeFailure } from './native.js';
import { planRootfs } from './rootfs.js';
import { Runtime } from './runtime.js';
import { buildSpec } from './spec/build.js';
import type { OciSpec } from './spec/defaults.js';
import { parseConsoleSize, parseSignal } from './spec/parse.js';
import { rootfsReader } from './spec/rootfs-files.js';
import {
  createdState,
  type ExitReport,
  exitedState,
  isAlive,
  rfc3339Nano,
  runningState,
  waitResult,
  ZERO_TIME,
} from './state.js';
import { type ContainerRecord, containerDir, loadRecords, saveRecord, writeFileAtomic } from './store.js';
import type {
  Container,
  ContainerStats,
  CreateOptions,
  EngineEvent,
  EngineEventAction,
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

/** Per-container live state that is not persisted. */
interface Live {
  rec: ContainerRecord;
  monitor: MonitorClient;
  /** Aborts the pending `wait` request (close(), remove()). */
  watch?: AbortController;
  /** Resolved with the exit once onExit has fully processed it. */
  exitListeners: ((r: WaitResult) => void)[];
  removedListeners: ((r: WaitResult) => void)[];
  /** Serialises state-changing operations (start, pause, remove …). */
  lock: Promise<unknown>;
  removing: boolean;
  /** Set while start() talks to the monitor, so an exit is recorded after the start, never before. */
  starting?: Promise<unknown>;
  /** Runtime cleanup after an exit (cgroups, state dir, monitor); awaited before re-create or removal. */
  cleanup?: Promise<void>;
  /** Record writes in order; each writes the record as it is when its turn comes. */
  saving: Promise<void>;
  spec?: OciSpec;
  /** Attaches made while no monitor ran; bound to the next start's monitor before it starts init. */
  pendingAttaches: { stream: DeferredStream; opts: AttachStdio }[];
}

interface AttachStdio {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export class ContainerManager extends EventEmitter<ManagerEvents> {
  readonly dataRoot: string;
  readonly execRoot: string;
  private readonly runtime: Runtime;
  private readonly logMaxSize: number;
  private readonly logMaxFiles: number;
  private readonly now: () => Date;
  private readonly randomId: () => string;
  private readonly live = new Map<string, Live>();
  private readonly names = new Map<string, string>(); // name → id (also reserved during create)
  private readonly execs: ExecTable;
  private closed = false;
  private readonly hostCaps = boundingCapabilities();

  protected constructor(opts: ManagerOptions) {
    super();
    if (!isAbsolute(opts.dataRoot))
      throw new InvalidArgumentError('dataRoot', `${opts.dataRoot} is not absolute`);
    if (!isAbsolute(opts.execRoot))
      throw new InvalidArgumentError('execRoot', `${opts.execRoot} is not absolute`);
    this.dataRoot = opts.dataRoot;
    this.execRoot = opts.execRoot;
    this.runtime = new Runtime(join(opts.execRoot, 'runtime'));
    this.logMaxSize = opts.logMaxSize ?? DEFAULT_LOG_MAX_SIZE;
    this.logMaxFiles = opts.logMaxFiles ?? DEFAULT_LOG_MAX_FILES;
    this.now = opts.now ?? (() => new Date());
    this.randomId = opts.randomId ?? (() => randomBytes(32).toString('hex'));
    this.execs = new ExecTable(this.randomId);
    mkdirSync(join(this.dataRoot, 'containers'), { recursive: true, mode: 0o710 });
    mkdirSync(this.runtime.root, { recursive: true, mode: 0o700 });
  }

  /** Loads every container record under dataRoot and reconnects to running monitors (live restore). */
  static async open(opts: ManagerOptions): Promise<ContainerManager> {
    const m = new ContainerManager(opts);
    await m.restore();
    return m;
  }

  // ---------------------------------------------------------------- restore

  private async restore(): Promise<void> {
    const { records, orphans } = loadRecords(this.dataRoot);
    for (const id of orphans) {
      // A create that crashed half-way: remove whatever it left.
      await this.runtime.delete(id, true).catch(() => {});
      await rm(containerDir(this.dataRoot, id), { recursive: true, force: true });
    }
    for (const rec of records) {
      const live = this.register(rec);
      if (!rec.runtimeCreated) {
        // Exit recorded but the daemon died before cleaning up the runtime state.
        if (existsSync(this.runtime.stateDir(rec.id)))
          await this.runtime.delete(rec.id, true).catch(() => {});
        continue;
      }
      try {
        const st = await live.monitor.state();
        if (st.status === 'stopped') {
          // Exited while no manager ran: record it now, so open() returns a settled state.
          const exit = this.runtime.readExit(rec.id);
          if (exit) await this.onExit(live, exit);
          else this.watch(live); // exit.json is being written: the wait reply follows at once
          continue;
        }
        rec.state.status = st.status;
        rec.state.running = st.status === 'running' || st.status === 'paused';
        rec.state.paused = st.status === 'paused';
        rec.state.pid = st.pid;
        if (rec.state.running && rec.state.startedAt === ZERO_TIME)
          rec.state.startedAt = this.runtime.readStarted(rec.id) ?? rfc3339Nano(this.now());
        this.watch(live);
      } catch {
        // Unreachable (gone, or exiting right now): exit.json or a second look decides.
        await this.monitorGone(live);
      }
    }
  }

  private register(rec: ContainerRecord): Live {
    const live: Live = {
      rec,
      monitor: new MonitorClient(this.runtime.socketPath(rec.id)),
      exitListeners: [],
      removedListeners: [],
      lock: Promise.resolve(),
      removing: false,
      saving: Promise.resolve(),
      pendingAttaches: [],
    };
    this.live.set(rec.id, live);
    this.names.set(rec.name, rec.id);
    return live;
  }

  // ---------------------------------------------------------------- helpers

  private emitEvent(
    action: EngineEventAction,
    rec: ContainerRecord,
    extra: Record<string, string> = {},
  ): void {
    this.emit('event', {
      action,
      id: rec.id,
      attributes: { ...rec.config.labels, name: rec.name, image: rec.image, ...extra },
      timeMs: this.now().getTime(),
    });
  }

  private persist(live: Live): Promise<void> {
    const save = async () => {
      // A removed (or removing) container has no directory to write to any more.
      if (this.live.get(live.rec.id) !== live || !existsSync(live.rec.bundle)) return;
      await saveRecord(this.dataRoot, live.rec);
    };
    const p = live.saving.then(save, save);
    live.saving = p.catch(() => {});
    return p;
  }

  private locked<T>(live: Live, fn: () => Promise<T>): Promise<T> {
    const run = live.lock.then(fn, fn);
    live.lock = run.catch(() => {});
    return run;
  }

  /** By full id, name (with or without "/"), or unique id prefix. */
  private find(ref: string): Live {
    const byId = this.live.get(ref);
    if (byId) return byId;
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const id = this.names.get(name);
    const byName = id ? this.live.get(id) : undefined;
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(ref) && ref.length > 0) {
      const hits = [...this.live.keys()].filter((k) => k.startsWith(ref));
      if (hits.length === 1) return this.live.get(hits[0])!;
      if (hits.length > 1)
        throw new InvalidArgumentError('container', `multiple containers match the prefix ${ref}`);
    }
    throw new NotFoundError(`No such container: ${ref}`);
  }

  private isRunning(live: Live): boolean {
    return isAlive(live.rec.state);
  }

  private specOf(live: Live): OciSpec {
    if (!live.spec)
      live.spec = JSON.parse(readFileSync(join(live.rec.bundle, 'config.json'), 'utf8')) as OciSpec;
    return live.spec;
  }

  /** The rootfs as layers (top first) for reading /etc/passwd and friends. */
  private rootfsLayers(rec: ContainerRecord): string[] {
    if ('dir' in rec.rootfs) return [rec.rootfs.dir];
    return rec.overlay ? [rec.overlay.upper, ...rec.rootfs.layers] : rec.rootfs.layers;
  }

  // ---------------------------------------------------------------- create

  /** Creates (does not start) a container. Throws InvalidArgumentError / ConflictError; leaves nothing on failure. */
  async create(opts: CreateOptions): Promise<{ id: string; name: string; warnings: string[] }> {
    if (this.closed) throw new InternalError('the container manager is closed');
    const name = opts.name ? normalizeName(opts.name) : generateName((n) => this.names.has(n));
    const taken = this.names.get(name);
    if (taken)
      throw new ConflictError(
        `Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    const id = this.randomId();
    if (!/^[0-9a-f]{64}$/.test(id)) throw new InternalError(`bad container id ${id}`);
    this.names.set(name, id); // reserved across the awaits below
    const dir = containerDir(this.dataRoot, id);
    let made = false;
    let runtimeCreated = false;
    try {
      const { layers, overlay, rootPath, imageConfig, annotations } = planRootfs(opts.rootfs, dir);
      const cgroupsPath = `/shoal/${id}`;
      const built = buildSpec(opts, imageConfig, {
        id,
        rootfsPath: rootPath,
        readRootfsFile: rootfsReader(layers),
        pathExists: (p) => existsSync(p),
        cgroupsPath,
        containerNetns: (ref) => this.netnsOf(ref),
        hostCapabilities: this.hostCaps,
        hostDevices: () => hostDevices(),
        hostCpus: onlineCpus(),
        hostHostname: osHostname(),
        annotations,
      });
      built.config.image = opts.image ?? '';
      const now = rfc3339Nano(this.now());
      const rec: ContainerRecord = {
        id,
        name,
        created: now,
        path: built.spec.process.args[0],
        args: built.spec.process.args.slice(1),
        image: opts.image ?? '',
        imageId: opts.imageId ?? '',
        config: built.config,
        hostConfig: built.hostConfig,
        state: createdState(),
        mounts: built.mounts,
        bundle: dir,
        logPath: join(dir, `${id}-json.log`),
        rootfs: opts.rootfs,
        restartCount: 0,
        execIds: [],
        cgroupsPath,
        ...(overlay ? { overlay } : {}),
        runtimeCreated: false,
      };

      await mkdir(dir, { mode: 0o710 });
      made = true;
      if (overlay)
        for (const d of [overlay.mountpoint, overlay.upper, overlay.work]) await mkdir(d, { mode: 0o755 });
      // The bundle needs no fsync of its own: without a durable record a crashed create is an
      // orphan that restore removes. The record is written while the runtime creates.
      await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(built.spec, null, 1), false);
      rec.runtimeCreated = true;
      const saved = saveRecord(this.dataRoot, rec);
      const created = this.runtimeCreate(rec);
      const [savedR, createdR] = await Promise.allSettled([saved, created]);
      runtimeCreated = createdR.status === 'fulfilled';
      if (createdR.status === 'rejected') throw createdR.reason;
      if (savedR.status === 'rejected') throw savedR.reason;
      const live = this.register(rec);
      live.spec = built.spec;
      this.watch(live);
      this.emitEvent('create', rec);
      const warnings: string[] = [];
      return { id, name, warnings };
    } catch (e) {
      this.names.delete(name);
      if (runtimeCreated) await this.runtime.delete(id, true).catch(() => {});
      if (made) await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private netnsOf(ref: string): string {
    const live = this.find(ref);
    if (!this.isRunning(live) || live.rec.state.pid <= 0)
      throw new ConflictError(`cannot join the network of container ${ref}: it is not running`);
    return `/proc/${live.rec.state.pid}/ns/net`;
  }

  private async runtimeCreate(rec: ContainerRecord): Promise<void> {
    await this.runtime.create({
      id: rec.id,
      bundle: rec.bundle,
      logPath: rec.logPath,
      logMaxSize: this.logMaxSize,
      logMaxFiles: this.logMaxFiles,
      stdin: rec.config.openStdin,
    });
  }

  // ---------------------------------------------------------------- exit tracking

  /** Keeps one `wait` request open on the monitor; its reply is the container's exit. */
  private watch(live: Live): void {
    if (live.watch || this.closed) return;
    const ac = new AbortController();
    live.watch = ac;
    live.monitor.wait(ac.signal).then(
      (exit) => {
        if (live.watch === ac) live.watch = undefined;
        void this.onExit(live, exit);
      },
      (err) => {
        if (live.watch === ac) live.watch = undefined;
        if (ac.signal.aborted) return;
        if (err instanceof MonitorGoneError) void this.monitorGone(live);
        else {
          // A transient socket error: look again shortly rather than lose the exit.
          setTimeout(() => this.watch(live), 200).unref();
        }
      },
    );
  }

  /** The monitor is unreachable: it wrote exit.json before leaving, or it died. */
  private async monitorGone(live: Live): Promise<void> {
    const exit = this.runtime.readExit(live.rec.id);
    if (exit) return this.onExit(live, exit);
    // Monitor socket gone without an exit record: could be a monitor between create and listen.
    const again = await live.monitor.state().catch(() => undefined);
    if (again) return this.watch(live);
    if (live.rec.state.status === 'created' && !live.starting) {
      // Never started (e.g. the host rebooted): nothing ran, so it stays created; start re-creates it.
      live.rec.runtimeCreated = false;
      await this.runtime.delete(live.rec.id, true).catch(() => {});
      await this.persist(live).catch(() => {});
      return;
    }
    return this.onExit(live, {
      exitCode: 255,
      signal: null,
      oomKilled: false,
      finishedAt: rfc3339Nano(this.now()),
      error: 'the container monitor disappeared without reporting an exit status',
    });
  }

  private async onExit(live: Live, exit: ExitReport): Promise<void> {
    const rec = live.rec;
    if (!rec.runtimeCreated) return; // already processed (restore and watcher racing)
    rec.runtimeCreated = false;
    if (live.starting) await live.starting.catch(() => {});
    rec.state = exitedState(rec.state, exit, this.now());
    const exitCode = rec.state.exitCode;
    // Report first (waiters see the exit at once), then record it, then clean up the runtime
    // state: until that last step exit.json survives, so a crash anywhere loses nothing.
    if (exit.oomKilled) this.emitEvent('oom', rec);
    this.emitEvent('die', rec, { exitCode: String(exitCode) });
    const result = waitResult(rec.state);
    for (const l of live.exitListeners.splice(0)) l(result);
    this.execs.containerExited(rec.id);
    live.cleanup = (async () => {
      try {
        await this.persist(live);
        await this.runtime.delete(rec.id, true);
      } catch (e) {
        rec.state.error = rec.state.error || `cleanup after exit failed: ${(e as Error).message}`;
      }
    })();
    await live.cleanup;
    if (rec.hostConfig.autoRemove && !live.removing && !this.closed)
      await this.remove(rec.id, { force: true }).catch(() => {});
  }

  /** A promise for the next processed exit (registered before acting, so it cannot be missed). */
  private nextExit(live: Live): Promise<WaitResult> {
    return new Promise((resolve) => live.exitListeners.push(resolve));
  }

  // ---------------------------------------------------------------- lifecycle

  async start(ref: string): Promise<void> {
    const live = this.find(ref);
    return this.locked(live, async () => {
      const rec = live.rec;
      if (live.removing) throw new ConflictError(`container ${rec.name} is being removed`);
      if (rec.state.status === 'running') return; // docker answers 304: nothing to do
      if (rec.state.status === 'paused')
        throw new ConflictError(`cannot start a paused container ${rec.name}, try unpause instead`);
      if (!rec.runtimeCreated) {
        // A container that ran before: a fresh runtime container on the same bundle.
        await live.cleanup;
        await this.runtimeCreate(rec);
        rec.runtimeCreated = true;
        await this.persist(live);
        this.watch(live);
      }
      await this.bindPendingAttaches(live);
      const startedAt = rfc3339Nano(this.now());
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
        this.persist(live).catch(() => {});
        this.emitEvent('start', rec);
      })();
      live.starting = starting;
      try {
        await starting;
      } catch (e) {
        rec.state.error = (e as Error).message;
        await this.persist(live);
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
    const live = this.find(ref);
    let list: ((r: WaitResult) => void)[];
    if (condition === 'removed') list = live.removedListeners;
    else if (condition === 'next-exit') list = live.exitListeners;
    else if (condition === 'not-running') {
      if (!this.isRunning(live)) return waitResult(live.rec.state);
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

  /** `signal` as number, "TERM" or "SIGTERM"; default SIGKILL (as docker kill). */
  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const live = this.find(ref);
    const sig = parseSignal('signal', signal);
    if (!this.isRunning(live)) throw new ConflictError(`Container ${live.rec.id} is not running`);
    await this.signal(live, sig.number);
  }

  /** Signals init (emitting docker's "kill" event); an init that exited meanwhile is not an error. */
  private async signal(live: Live, sig: number): Promise<void> {
    try {
      await live.monitor.kill(sig);
      this.emitEvent('kill', live.rec, { signal: String(sig) });
      // A frozen process only dies once thawed.
      if (live.rec.state.status === 'paused' && sig === 9) await live.monitor.resume().catch(() => {});
    } catch (e) {
      // Exited meanwhile: the watcher reports the exit.
      if (e instanceof MonitorGoneError) return;
      if (e instanceof MonitorRequestError && /not running|has exited/.test(e.message)) return;
      throw new InternalError(`signalling container ${live.rec.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Sends the stop signal, waits `timeoutSec` (default: container's stopTimeout or 10), then SIGKILL. */
  async stop(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<void> {
    const live = this.find(ref);
    if (!this.isRunning(live)) return; // docker answers 304
    const sig = parseSignal('signal', opts.signal ?? live.rec.config.stopSignal);
    const timeout = opts.timeoutSec ?? live.rec.config.stopTimeout;
    if (!Number.isFinite(timeout))
      throw new InvalidArgumentError('timeout', `${opts.timeoutSec} is not a number`);
    const exited = this.nextExit(live);
    await this.signal(live, sig.number);
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
      if (timedOut) await this.signal(live, 9);
    }
    await exited;
    this.emitEvent('stop', live.rec);
  }

  async restart(ref: string, opts: { timeoutSec?: number } = {}): Promise<void> {
    const live = this.find(ref);
    await this.stop(live.rec.id, opts);
    await this.start(live.rec.id);
    live.rec.restartCount++;
    await this.persist(live);
    this.emitEvent('restart', live.rec);
  }

  /** Without force a running container is a ConflictError. */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const live = this.find(ref);
    const rec = live.rec;
    if (live.removing) throw new ConflictError(`removal of container ${rec.name} is already in progress`);
    if (this.isRunning(live)) {
      if (!opts.force)
        throw new ConflictError(
          `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`,
        );
      const exited = this.nextExit(live);
      await this.signal(live, 9);
      await exited;
    }
    return this.locked(live, async () => {
      if (live.removing) return;
      live.removing = true;
      rec.state.status = 'removing';
      live.watch?.abort();
      live.watch = undefined;
      await live.cleanup;
      try {
        // A created (never started) container still has a monitor and a blocked init.
        if (rec.runtimeCreated || existsSync(this.runtime.stateDir(rec.id)))
          await this.runtime.delete(rec.id, true);
      } catch (e) {
        live.removing = false;
        rec.state.status = 'dead';
        rec.state.dead = true;
        rec.state.error = (e as Error).message;
        throw e;
      }
      await rm(rec.bundle, { recursive: true, force: true });
      this.live.delete(rec.id);
      for (const p of live.pendingAttaches.splice(0)) p.stream.abandon();
      if (this.names.get(rec.name) === rec.id) this.names.delete(rec.name);
      this.execs.containerRemoved(rec.id);
      this.emitEvent('destroy', rec);
      const result = waitResult(rec.state);
      for (const l of live.exitListeners.splice(0)) l(result);
      for (const l of live.removedListeners.splice(0)) l(result);
    });
  }

  async pause(ref: string): Promise<void> {
    const live = this.find(ref);
    return this.locked(live, async () => {
      const rec = live.rec;
      if (rec.state.status === 'paused') throw new ConflictError(`Container ${rec.id} is already paused`);
      if (rec.state.status !== 'running') throw new ConflictError(`Container ${rec.id} is not running`);
      await live.monitor.pause();
      rec.state.status = 'paused';
      rec.state.paused = true;
      await this.persist(live);
      this.emitEvent('pause', rec);
    });
  }

  async unpause(ref: string): Promise<void> {
    const live = this.find(ref);
    return this.locked(live, async () => {
      const rec = live.rec;
      if (rec.state.status !== 'paused') throw new ConflictError(`Container ${rec.id} is not paused`);
      await live.monitor.resume();
      rec.state.status = 'running';
      rec.state.paused = false;
      await this.persist(live);
      this.emitEvent('unpause', rec);
    });
  }

  /** Usage counters; all zero for a container that is not running (as docker). */
  async stats(ref: string): Promise<ContainerStats> {
    const live = this.find(ref);
    const host = { systemCpuNs: systemCpuNs(), onlineCpus: onlineCpus() };
    if (!this.isRunning(live))
      return {
        read: rfc3339Nano(this.now()),
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
    const live = this.find(ref);
    if (!this.isRunning(live)) throw new ConflictError(`Container ${live.rec.id} is not running`);
    return this.runtime.ps(live.rec.id);
  }

  /** Sets the container's TTY size. */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const live = this.find(ref);
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
    const live = this.find(ref);
    if (live.removing) throw new ConflictError(`container ${live.rec.name} is being removed`);
    const stdio: AttachStdio = {
      stdin: !!opts.stdin && live.rec.config.openStdin,
      stdout: opts.stdout ?? true,
      stderr: opts.stderr ?? true,
    };
    let stream: Duplex;
    try {
      stream = live.rec.runtimeCreated ? await live.monitor.attach(stdio) : this.deferAttach(live, stdio);
    } catch (e) {
      // The monitor left (the exit is being processed): wait for the next start like a stopped container.
      if (e instanceof MonitorGoneError) stream = this.deferAttach(live, stdio);
      else throw new InternalError(`attaching to ${live.rec.name}: ${(e as Error).message}`, { cause: e });
    }
    this.emitEvent('attach', live.rec);
    return stream;
  }

  private deferAttach(live: Live, opts: AttachStdio): DeferredStream {
    const stream = new DeferredStream();
    const entry = { stream, opts };
    live.pendingAttaches.push(entry);
    stream.once('close', () => {
      const i = live.pendingAttaches.indexOf(entry);
      if (i >= 0) live.pendingAttaches.splice(i, 1);
    });
    return stream;
  }

  /** Connects waiting attaches to the (new) monitor before init starts, so they see every byte. */
  private async bindPendingAttaches(live: Live): Promise<void> {
    const pending = live.pendingAttaches.splice(0);
    await Promise.all(
      pending.map(async ({ stream, opts }) => {
        try {
          stream.connect(await live.monitor.attach(opts));
        } catch (e) {
          stream.destroy(e as Error);
        }
      }),
    );
  }

  /** Reads the json-file log (across rotated files); with follow, until the container stops or opts.signal aborts. */
  logs(ref: string, opts: LogOptions = {}): AsyncIterable<LogEntry> {
    const live = this.find(ref);
    if (opts.tail !== undefined && opts.tail !== 'all' && (!Number.isInteger(opts.tail) || opts.tail < 0))
      throw new InvalidArgumentError('tail', `${opts.tail} is not a number of lines`);
    return readLogs(live.rec.logPath, this.logMaxFiles, opts, {
      isRunning: () => live.rec.runtimeCreated && !live.removing,
      // Through wait() so an aborted follow drops its listener.
      exited: () => this.wait(live.rec.id, 'next-exit', opts.signal),
    });
  }

  /** All containers (all=false: only running/paused), newest first. */
  list(opts: { all?: boolean } = {}): Container[] {
    return [...this.live.values()]
      .filter((l) => opts.all || this.isRunning(l))
      .sort((a, b) => (a.rec.created < b.rec.created ? 1 : a.rec.created > b.rec.created ? -1 : 0))
      .map((l) => this.view(l));
  }

  /** By full id, unique id prefix, or name (with or without leading "/"). */
  inspect(ref: string): Container {
    return this.view(this.find(ref));
  }

  private view(live: Live): Container {
    const { cgroupsPath: _c, overlay: _o, runtimeCreated: _r, ...c } = live.rec;
    return structuredClone({ ...c, execIds: this.execs.idsOf(live.rec.id) });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const live = this.find(ref);
    const name = normalizeName(newName);
    if (name === live.rec.name) return;
    const taken = this.names.get(name);
    if (taken)
      throw new ConflictError(
        `Conflict. The container name "/${name}" is already in use by container "${taken}"`,
      );
    const old = live.rec.name;
    this.names.set(name, live.rec.id);
    this.names.delete(old);
    live.rec.name = name;
    await this.persist(live);
    this.emitEvent('rename', live.rec, { oldName: `/${old}` });
  }

  // ---------------------------------------------------------------- exec

  execCreate(ref: string, opts: ExecOptions): string {
    const live = this.find(ref);
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
    const id = this.execs.add(rec.id, { ...opts, consoleSize });
    this.emitEvent('exec_create', rec, { execID: id });
    return id;
  }

  /**
   * Starts an exec. detach → resolves null once started; otherwise a duplex like attach's
   * (raw with tty, multiplexed without), which ends when the process exits.
   */
  async execStart(execId: string, opts: { detach?: boolean; tty?: boolean } = {}): Promise<Duplex | null> {
    const ex = this.execs.get(execId);
    const live = this.live.get(ex.containerId);
    if (!live) throw new NotFoundError(`No such exec instance: ${execId}`);
    if (ex.started) throw new ConflictError(`exec ${execId} has already been started`);
    if (live.rec.state.status !== 'running')
      throw new ConflictError(`Container ${live.rec.id} is not running`);
    const tty = opts.tty ?? !!ex.options.tty;
    const process = this.execs.processFor(ex, {
      spec: this.specOf(live),
      rootfsLayers: this.rootfsLayers(live.rec),
      tty,
      configEnv: live.rec.config.env,
      privilegedCaps: this.hostCaps,
    });
    ex.started = true;
    try {
      const r = await live.monitor.exec(process, !!opts.detach);
      ex.monitorExecId = r.execId;
      ex.pid = r.pid;
      ex.running = true;
      this.emitEvent('exec_start', live.rec, { execID: execId });
      const done = async () => {
        await this.execs.refresh(ex, live.monitor);
        if (!ex.running)
          this.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
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
      this.emitEvent('exec_die', live.rec, { execID: execId, exitCode: String(ex.exitCode) });
      throw err;
    }
  }

  async execInspect(execId: string): Promise<ExecInfo> {
    const ex = this.execs.get(execId);
    const live = this.live.get(ex.containerId);
    if (ex.running && live) await this.execs.refresh(ex, live.monitor);
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
    const ex = this.execs.get(execId);
    checkSize(height, width);
    const live = this.live.get(ex.containerId);
    if (!live || !ex.running || !ex.monitorExecId) throw new ConflictError(`exec ${execId} is not running`);
    await live.monitor.resize(height, width, ex.monitorExecId);
  }

  /** Drops monitor connections and watchers; containers keep running (live restore picks them up). */
  async close(): Promise<void> {
    this.closed = true;
    for (const live of this.live.values()) {
      live.watch?.abort();
      live.watch = undefined;
      for (const p of live.pendingAttaches.splice(0)) p.stream.abandon();
    }
    // Let in-flight record writes and post-exit cleanups finish: a restarted manager must not race them.
    await Promise.all([...this.live.values()].flatMap((l) => [l.saving, l.cleanup]));
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
