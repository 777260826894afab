// ContainerManager: the engine's public face for the daemon and the executor.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { InternalError } from './errors.js';
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

export class ContainerManager extends EventEmitter<ManagerEvents> {
  readonly dataRoot: string;
  readonly execRoot: string;

  protected constructor(opts: ManagerOptions) {
    super();
    this.dataRoot = opts.dataRoot;
    this.execRoot = opts.execRoot;
  }

  /** Loads every container record under dataRoot and reconnects to running monitors (live restore). */
  static async open(opts: ManagerOptions): Promise<ContainerManager> {
    return new ContainerManager(opts);
  }

  /** Creates (does not start) a container. Throws InvalidArgumentError / ConflictError; leaves nothing on failure. */
  async create(_opts: CreateOptions): Promise<{ id: string; name: string; warnings: string[] }> {
    throw new InternalError('not implemented yet');
  }
  async start(_idOrName: string): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  /** Resolves when the condition is met; rejects with NotFoundError if the container does not exist. */
  async wait(
    _idOrName: string,
    _condition: WaitCondition = 'not-running',
    _signal?: AbortSignal,
  ): Promise<WaitResult> {
    throw new InternalError('not implemented yet');
  }
  /** `signal` as number, "TERM" or "SIGTERM"; default SIGKILL (as docker kill). */
  async kill(_idOrName: string, _signal?: string | number): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  /** Sends the stop signal, waits `timeoutSec` (default: container's stopTimeout or 10), then SIGKILL. */
  async stop(_idOrName: string, _opts?: { timeoutSec?: number; signal?: string }): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  async restart(_idOrName: string, _opts?: { timeoutSec?: number }): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  /** Without force a running container is a ConflictError. */
  async remove(_idOrName: string, _opts?: { force?: boolean }): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  async pause(_idOrName: string): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  async unpause(_idOrName: string): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  async stats(_idOrName: string): Promise<ContainerStats> {
    throw new InternalError('not implemented yet');
  }
  /** Pids of processes in the container's cgroup. */
  async top(_idOrName: string): Promise<number[]> {
    throw new InternalError('not implemented yet');
  }
  /** Sets the container's TTY size. */
  async resize(_idOrName: string, _height: number, _width: number): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  /**
   * Attaches to the container's stdio. The returned duplex carries, from the container, raw terminal
   * bytes (tty) or Docker's multiplexed frames (no tty); writes go to stdin, end() closes stdin.
   */
  async attach(
    _idOrName: string,
    _opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean },
  ): Promise<Duplex> {
    throw new InternalError('not implemented yet');
  }
  /** Reads the json-file log (across rotated files); with follow, until the container stops or opts.signal aborts. */
  logs(_idOrName: string, _opts?: LogOptions): AsyncIterable<LogEntry> {
    throw new InternalError('not implemented yet');
  }
  /** All containers (all=false: only running/paused), newest first. */
  list(_opts?: { all?: boolean }): Container[] {
    throw new InternalError('not implemented yet');
  }
  /** By full id, unique id prefix, or name (with or without leading "/"). */
  inspect(_idOrName: string): Container {
    throw new InternalError('not implemented yet');
  }
  async rename(_idOrName: string, _newName: string): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  execCreate(_idOrName: string, _opts: ExecOptions): string {
    throw new InternalError('not implemented yet');
  }
  /**
   * Starts an exec. detach → resolves null once started; otherwise a duplex like attach's
   * (raw with tty, multiplexed without), which ends when the process exits.
   */
  async execStart(_execId: string, _opts?: { detach?: boolean; tty?: boolean }): Promise<Duplex | null> {
    throw new InternalError('not implemented yet');
  }
  async execInspect(_execId: string): Promise<ExecInfo> {
    throw new InternalError('not implemented yet');
  }
  async execResize(_execId: string, _height: number, _width: number): Promise<void> {
    throw new InternalError('not implemented yet');
  }
  /** Drops monitor connections and watchers; containers keep running (live restore picks them up). */
  async close(): Promise<void> {}
}
