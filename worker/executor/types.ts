// The executor's contract: what the agent calls (TaskExecutor) and the two ports it drives
// (EnginePort over worker/engine, ImagePort over worker/images). The ports are narrow so the
// per-task controller can be unit-tested with fakes; engine-ports.ts adapts the real ones.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { CreateOptions, ImageConfig, WaitResult } from '../engine/index.js';

export type { Task, TaskStatus };

/** One observed-state report for one task (the agent batches them to the dispatcher). */
export interface StatusReport {
  taskId: string;
  status: TaskStatus;
}

export type StatusListener = (report: StatusReport) => void;

/**
 * What the agent drives. Every method is keyed by task id and idempotent: the agent may replay its
 * whole assignment set after a reconnect or a restart.
 */
export interface TaskExecutor {
  /** Takes a task (assigned or updated) and drives it toward its desired state. */
  run(task: Task): void;
  /** A newer copy of a task already run (desired state moved on); same as run for an unknown task. */
  update(task: Task): void;
  /** Stops the task's container (stop signal, grace period) and resolves once SHUTDOWN (or terminal). */
  shutdown(taskId: string): Promise<void>;
  /** Shuts the task down if needed, removes its container and forgets it. */
  remove(taskId: string): Promise<void>;
  /** The last status reported for a task, if known. */
  status(taskId: string): TaskStatus | undefined;
  /** Every task the executor knows (running or finished but not removed). */
  list(): { taskId: string; status: TaskStatus }[];
  /**
   * After a worker restart: finds the containers made for tasks (by their swarm labels), adopts
   * them and reports their real state (only forward of what `known` says was reported). `known` is
   * the agent's stored copy of its tasks (spec, desired state, last status); a container with no
   * known task is adopted as it is (desired: keep its state) until the agent runs or removes it.
   * Returns every adopted task's status.
   */
  restore(known?: Task[]): Promise<StatusReport[]>;
  /** Status reports, in order per task, never backwards. Returns an unsubscribe function. */
  onStatus(listener: StatusListener): () => void;
  /** Stops health probes and watchers; containers keep running (restore picks them up). */
  close(): Promise<void>;
}

// ------------------------------------------------------------------ ports

/** An image ready for a container: its layers (top first) and container defaults. */
export interface ResolvedImage {
  id: string;
  /** The reference as the user wrote it, familiar form ("busybox:latest"). */
  reference: string;
  layers: string[];
  config: ImageConfig & { Healthcheck?: unknown };
}

export interface ImagePort {
  /** The image if present locally; undefined when not. Throws on a malformed reference. */
  resolve(ref: string): Promise<ResolvedImage | undefined>;
  /** Pulls from the registry named in the reference; throws when it cannot. */
  pull(ref: string, signal?: AbortSignal): Promise<void>;
}

/**
 * The secrets and configs this node was sent (the agent's in-memory Dependencies): the data of one, waiting
 * a bounded time when it has not arrived yet (a restarted worker before its first session); rejects then.
 */
export interface DataPort {
  data(kind: 'secret' | 'config', id: string, signal?: AbortSignal): Promise<Uint8Array>;
}

/** What the executor needs to know of a container. */
export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
}

export interface ExecResult {
  exitCode: number;
  /** The tail of the probe's output (docker keeps 4 KiB). */
  output: string;
  timedOut: boolean;
}

export interface EnginePort {
  create(opts: CreateOptions): Promise<{ id: string }>;
  start(id: string): Promise<void>;
  /** Resolves when the container is not running (at once if it is not). */
  wait(id: string, condition: 'next-exit' | 'not-running', signal?: AbortSignal): Promise<WaitResult>;
  /** Stop signal, then SIGKILL after timeoutSec (fractional allowed). No-op if not running. */
  stop(id: string, opts: { timeoutSec: number; signal?: string }): Promise<void>;
  remove(id: string): Promise<void>;
  /** undefined when the container does not exist. */
  inspect(id: string): ContainerInfo | undefined;
  list(): ContainerInfo[];
  /** Runs a command in the running container; a timeout kills it and reports timedOut. */
  exec(id: string, cmd: string[], timeoutMs: number): Promise<ExecResult>;
}

/** Injected time: the clock for timestamps and the sleep health probes wait with. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};
