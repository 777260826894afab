// The state the manager's parts share: the container table (records, monitors, listeners, locks),
// the runtime, the injected clock and id source, and the event sink. Each part (create, exits,
// stop, restore, attach) is a set of functions over this context; manager.ts composes them.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { DeferredStream } from './deferred-stream.js';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import type { ExecTable } from './exec.js';
import { MonitorClient } from './monitor-client.js';
import type { Runtime } from './runtime.js';
import type { OciSpec } from './spec/defaults.js';
import { isAlive } from './state.js';
import { type ContainerRecord, saveRecord } from './store.js';
import type { ContainerNetworking, EngineEventAction, WaitResult } from './types.js';
import type { VolumeStore } from './volumes/store.js';

export interface AttachStdio {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** Per-container live state that is not persisted. */
export interface Live {
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
  /** Every attach stream still open (exits.ts lets their output through before reporting an exit). */
  attached: Set<Duplex>;
  /** Restart-policy state (restarts.ts): a pending back-off, the last delay, a stop by the user. */
  restart?: { timer?: NodeJS.Timeout; lastDelayMs: number; stoppedByUser: boolean };
  /** Aborts the running health probes (health-monitor.ts). */
  health?: AbortController;
}

export interface EngineContext {
  readonly dataRoot: string;
  /** Per-container tmpfs mounts of files from memory (file-mounts.ts): <execRoot>/files. */
  readonly filesRoot: string;
  readonly runtime: Runtime;
  readonly logMaxSize: number;
  readonly logMaxFiles: number;
  readonly now: () => Date;
  readonly randomId: () => string;
  readonly live: Map<string, Live>;
  /** name → id (also reserved during create) */
  readonly names: Map<string, string>;
  readonly execs: ExecTable;
  readonly hostCaps: string[];
  /** The local volume driver (volumes/store.ts). */
  readonly volumes: VolumeStore;
  /** worker/network's port (ManagerOptions.networking); absent: containers get networkMode none. */
  readonly networking?: ContainerNetworking;
  closed: boolean;
  emitEvent(action: EngineEventAction, rec: ContainerRecord, extra?: Record<string, string>): void;
  /** The manager's start without the user's reset of the restart count (restart policies, daemon start). */
  startByPolicy(live: Live, why: 'policy' | 'boot'): Promise<void>;
  /** The manager's remove (auto-remove after an exit goes through it). */
  remove(ref: string, opts: { force?: boolean; removeVolumes?: boolean }): Promise<void>;
}

export function register(ctx: EngineContext, rec: ContainerRecord): Live {
  const live: Live = {
    rec,
    monitor: new MonitorClient(ctx.runtime.socketPath(rec.id)),
    exitListeners: [],
    removedListeners: [],
    lock: Promise.resolve(),
    removing: false,
    saving: Promise.resolve(),
    pendingAttaches: [],
    attached: new Set(),
  };
  ctx.live.set(rec.id, live);
  ctx.names.set(rec.name, rec.id);
  return live;
}

export function persist(ctx: EngineContext, live: Live): Promise<void> {
  const save = async () => {
    // A removed (or removing) container has no directory to write to any more.
    if (ctx.live.get(live.rec.id) !== live || !existsSync(live.rec.bundle)) return;
    await saveRecord(ctx.dataRoot, live.rec);
  };
  const p = live.saving.then(save, save);
  live.saving = p.catch(() => {});
  return p;
}

export function locked<T>(live: Live, fn: () => Promise<T>): Promise<T> {
  const run = live.lock.then(fn, fn);
  live.lock = run.catch(() => {});
  return run;
}

/** By full id, name (with or without "/"), or unique id prefix. */
export function find(ctx: EngineContext, ref: string): Live {
  const byId = ctx.live.get(ref);
  if (byId) return byId;
  const name = ref.startsWith('/') ? ref.slice(1) : ref;
  const id = ctx.names.get(name);
  const byName = id ? ctx.live.get(id) : undefined;
  if (byName) return byName;
  if (/^[0-9a-f]+$/.test(ref) && ref.length > 0) {
    const hits = [...ctx.live.keys()].filter((k) => k.startsWith(ref));
    if (hits.length === 1) return ctx.live.get(hits[0])!;
    if (hits.length > 1)
      throw new InvalidArgumentError('container', `multiple containers match the prefix ${ref}`);
  }
  throw new NotFoundError(`No such container: ${ref}`);
}

export function isRunning(live: Live): boolean {
  return isAlive(live.rec.state);
}

export function specOf(live: Live): OciSpec {
  if (!live.spec)
    live.spec = JSON.parse(readFileSync(join(live.rec.bundle, 'config.json'), 'utf8')) as OciSpec;
  return live.spec;
}

/** The rootfs as layers (top first) for reading /etc/passwd and friends. */
export function rootfsLayers(rec: ContainerRecord): string[] {
  if ('dir' in rec.rootfs) return [rec.rootfs.dir];
  return rec.overlay ? [rec.overlay.upper, ...rec.rootfs.layers] : rec.rootfs.layers;
}
