// One task's life on this worker, as swarmkit's exec.Do drives a Controller: ACCEPTED → PREPARING
// (image, container) → READY → STARTING (start; with a healthcheck, until healthy) → RUNNING →
// COMPLETE | FAILED, or SHUTDOWN when the desired state says so; REJECTED for what fails before the
// start. It only talks to the injected ports and clock, and reports each state once, never backwards.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { FileMount, WaitResult } from '../engine/index.js';
import { type HealthSettings, type HealthTracker, healthSettings, runHealthProbes } from './health.js';
import { checkTask, containerSpecOf, fileRefs, gracePeriodMs, Refusal, toCreateOptions } from './spec-map.js';
import {
  type Exit,
  exitOutcome,
  failureState,
  isTerminal,
  MESSAGE,
  TaskState,
  wantsStop,
} from './task-state.js';
import type { Clock, ContainerInfo, DataPort, EnginePort, ImagePort } from './types.js';

export interface ControllerDeps {
  engine: EnginePort;
  images: ImagePort;
  /** The node's secrets and configs (memory only); without it a task that mounts any is rejected. */
  data?: DataPort;
  clock: Clock;
  report: (status: TaskStatus) => void;
  /** Where errors that change no state go (a failed probe exec, a failed removal…). */
  log?: (message: string) => void;
}

type Outcome =
  | { kind: 'exit'; exit: Exit }
  | { kind: 'lost'; message: string }
  | { kind: 'healthy' }
  | { kind: 'unhealthy'; output: string }
  | { kind: 'stop' };

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const UNHEALTHY = 'unhealthy container';

export class TaskController {
  private task: Task;
  private current: TaskStatus;
  private containerId = '';
  private pid = 0;
  private exitCode = 0;
  private health: HealthSettings | undefined;
  private healthRun: AbortController | undefined;
  private healthy = deferred<Outcome>();
  private unhealthy = deferred<Outcome>();
  private exited: Promise<Outcome> | undefined;
  private changed = deferred();
  private readonly closed = new AbortController();
  private pullAbort: AbortController | undefined;
  /** Resolves when the task is terminal or the controller closed. */
  readonly done: Promise<void>;

  /**
   * `adopted`: a container found for this task (worker restart); the controller takes over from the
   * state the container is in instead of preparing a new one.
   */
  constructor(
    task: Task,
    private readonly deps: ControllerDeps,
    adopted?: ContainerInfo,
  ) {
    this.task = task;
    // Continue from what was reported before (never again, never below it). A task already
    // terminal stays so: its container's later fate (a stop's exit 137) must not turn SHUTDOWN into FAILED.
    this.current = emptyStatus(task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED, task.status);
    if (adopted) {
      this.containerId = adopted.id;
      if (!isTerminal(this.state)) this.adopt(adopted);
    }
    this.done = this.drive().catch((e) => {
      // A bug, not a task failure: report it rather than leave the task hanging.
      this.fatal(`executor: ${(e as Error).message}`);
    });
  }

  get state(): TaskState {
    return this.current.state;
  }

  get status(): TaskStatus {
    return structuredClone(this.current);
  }

  get container(): string {
    return this.containerId;
  }

  get taskId(): string {
    return this.task.id;
  }

  /** A newer copy of the task (its desired state moved). Its spec is the one the task was made with. */
  update(task: Task): void {
    if (task.id !== this.task.id) throw new Error(`update of task ${this.task.id} with task ${task.id}`);
    const hadSpec = !!this.task.spec?.containerSpec;
    this.task = task;
    if (!hadSpec && task.spec?.containerSpec && this.state === TaskState.TASK_STATE_RUNNING)
      void this.resumeHealth();
    this.wake();
  }

  /** Moves the desired state on (never back: the orchestrator only advances it either). */
  desire(state: TaskState): void {
    if (state <= this.task.desiredState) return;
    this.task = { ...this.task, desiredState: state };
    this.wake();
  }

  /** Stops probes and waits; the container keeps running. */
  close(): void {
    this.closed.abort();
    this.healthRun?.abort();
    this.pullAbort?.abort();
    this.wake();
  }

  // ---------------------------------------------------------------- the state machine

  private async drive(): Promise<void> {
    while (!isTerminal(this.state) && !this.closed.signal.aborted) {
      if (wantsStop(this.task.desiredState)) return this.shutdownTask();
      const s = this.state;
      if (s < TaskState.TASK_STATE_ACCEPTED) this.transition(TaskState.TASK_STATE_ACCEPTED);
      else if (s < TaskState.TASK_STATE_PREPARING) this.transition(TaskState.TASK_STATE_PREPARING);
      else if (s < TaskState.TASK_STATE_READY || !this.containerId) {
        if (s >= TaskState.TASK_STATE_STARTING)
          return this.fatal('task: its container is gone (not found on this worker)');
        await this.prepare();
      } else if (s < TaskState.TASK_STATE_STARTING) {
        // Prepared ahead (desired READY: a delayed restart or an update): start only when told.
        if (this.task.desiredState < TaskState.TASK_STATE_RUNNING) await this.changed.promise;
        else this.transition(TaskState.TASK_STATE_STARTING);
      } else if (s < TaskState.TASK_STATE_RUNNING) await this.start();
      else await this.watchRunning();
    }
  }

  private async prepare(): Promise<void> {
    let image: Awaited<ReturnType<ImagePort['resolve']>>;
    try {
      checkTask(this.task);
      const ref = containerSpecOf(this.task).image;
      image = await this.deps.images.resolve(ref);
      if (!image) {
        this.pullAbort = new AbortController();
        let pullError = '';
        const pulled = this.deps.images.pull(ref, this.pullAbort.signal).catch((e) => {
          pullError = (e as Error).message;
        });
        if ((await Promise.race([pulled.then(() => 'pulled' as const), this.stopWanted()])) === 'stop') {
          this.pullAbort.abort();
          return;
        }
        image = await this.deps.images.resolve(ref);
        // As swarm: whatever the pull said, the verdict is that the image is not here.
        if (!image)
          return this.fatal(`No such image: ${ref}`, pullError ? `pull failed: ${pullError}` : undefined);
      }
      this.health = healthSettings(this.task.spec?.containerSpec?.healthcheck, image.config.Healthcheck);
      if (wantsStop(this.task.desiredState) || this.closed.signal.aborted) return;
      const files = await this.readFiles();
      if (wantsStop(this.task.desiredState) || this.closed.signal.aborted) return;
      const { id } = await this.deps.engine.create(toCreateOptions(this.task, image, files));
      this.containerId = id;
    } catch (e) {
      return this.fatal(e instanceof Refusal ? e.message : (e as Error).message);
    }
    this.transition(TaskState.TASK_STATE_READY);
  }

  /** The task's secrets and configs as files (their data from the node's memory, never from disk). */
  private async readFiles(): Promise<FileMount[]> {
    const refs = fileRefs(this.task);
    if (refs.length === 0) return [];
    const port = this.deps.data;
    if (!port)
      throw new Refusal('spec.containerSpec.secrets', 'this worker cannot receive secrets or configs');
    const files: FileMount[] = [];
    for (const r of refs) {
      let data: Uint8Array;
      try {
        data = await port.data(r.kind, r.id, this.closed.signal);
      } catch (e) {
        throw new Error(`${r.kind} ${r.name}: ${(e as Error).message}`);
      }
      files.push({ target: r.target, data, uid: r.uid, gid: r.gid, mode: r.mode });
    }
    return files;
  }

  private async start(): Promise<void> {
    const id = this.containerId;
    this.exited = this.waitExit(id, 'next-exit');
    try {
      await this.deps.engine.start(id);
    } catch (e) {
      return this.fatal(`starting container failed: ${(e as Error).message}`);
    }
    this.pid = this.deps.engine.inspect(id)?.pid ?? 0;
    if (!this.health) return this.transition(TaskState.TASK_STATE_RUNNING);
    // Swarm keeps a task with a healthcheck STARTING until the container is healthy.
    this.startHealth();
    const o = await Promise.race([
      this.healthy.promise,
      this.unhealthy.promise,
      this.exited,
      this.stopOutcome(),
    ]);
    if (o.kind === 'healthy') this.transition(TaskState.TASK_STATE_RUNNING);
    else await this.settle(o);
  }

  private async watchRunning(): Promise<void> {
    this.exited ??= this.waitExit(this.containerId, 'not-running');
    const o = await Promise.race([this.exited, this.unhealthy.promise, this.stopOutcome()]);
    await this.settle(o);
  }

  /** Acts on what ended a wait: an exit, a lost container, an unhealthy verdict; a stop is the loop's. */
  private async settle(o: Outcome): Promise<void> {
    if (this.closed.signal.aborted) return;
    switch (o.kind) {
      case 'exit':
        return this.finish(o.exit);
      case 'lost':
        return this.fatal(`task: container lost: ${o.message}`);
      case 'unhealthy': {
        // As swarm: stop it (stop signal, grace period), then fail it with the exit it made.
        this.deps.log?.(`task ${this.task.id}: unhealthy (${o.output}); stopping its container`);
        let exit: Exit | undefined;
        try {
          exit = await this.stopContainer();
        } catch (e) {
          return this.fatal(`${UNHEALTHY}; stopping it failed: ${(e as Error).message}`);
        }
        return this.finish({ ...(exit ?? { exitCode: this.exitCode, oomKilled: false }), cause: UNHEALTHY });
      }
      default:
        return;
    }
  }

  private finish(exit: Exit): void {
    this.exitCode = exit.exitCode;
    this.pid = 0;
    this.healthRun?.abort();
    const { state, err } = exitOutcome(exit);
    this.transition(state, err || MESSAGE[state], err);
  }

  private async shutdownTask(): Promise<void> {
    this.pullAbort?.abort();
    try {
      await this.stopContainer();
    } catch (e) {
      return this.fatal(`shutdown failed: ${(e as Error).message}`);
    }
    this.pid = 0;
    this.transition(TaskState.TASK_STATE_SHUTDOWN);
  }

  /** Stops the container if it runs (grace period, stop signal); resolves with its exit, if known. */
  private async stopContainer(): Promise<Exit | undefined> {
    this.healthRun?.abort();
    if (!this.containerId) return undefined;
    const info = this.deps.engine.inspect(this.containerId);
    if (!info) return undefined;
    if (info.status === 'running' || info.status === 'paused' || info.status === 'restarting') {
      const signal = this.task.spec?.containerSpec?.stopSignal || undefined;
      let graceMs: number;
      try {
        graceMs = gracePeriodMs(this.task);
      } catch {
        graceMs = 0;
      }
      await this.deps.engine.stop(this.containerId, { timeoutSec: graceMs / 1000, signal });
    }
    const after = this.deps.engine.inspect(this.containerId);
    if (!after) return undefined;
    this.exitCode = after.exitCode;
    return { exitCode: after.exitCode, oomKilled: after.oomKilled };
  }

  // ---------------------------------------------------------------- health

  private startHealth(): void {
    const settings = this.health;
    if (!settings || this.healthRun) return;
    const run = new AbortController();
    this.healthRun = run;
    const id = this.containerId;
    void runHealthProbes({
      settings,
      clock: this.deps.clock,
      exec: (cmd, timeoutMs) => this.deps.engine.exec(id, cmd, timeoutMs),
      signal: run.signal,
      onChange: (status, tracker: HealthTracker) => {
        if (status === 'healthy') this.healthy.resolve({ kind: 'healthy' });
        if (status === 'unhealthy') this.unhealthy.resolve({ kind: 'unhealthy', output: tracker.lastOutput });
      },
    }).catch((e) => this.deps.log?.(`task ${this.task.id}: health probes: ${(e as Error).message}`));
  }

  /** After a restart the spec arrives with the agent's copy: probing resumes then. */
  private async resumeHealth(): Promise<void> {
    try {
      const spec = containerSpecOf(this.task);
      const image = await this.deps.images.resolve(spec.image);
      this.health = healthSettings(spec.healthcheck, image?.config.Healthcheck);
      if (this.state === TaskState.TASK_STATE_RUNNING && !this.closed.signal.aborted) this.startHealth();
    } catch (e) {
      this.deps.log?.(`task ${this.task.id}: cannot resume health checks: ${(e as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- restore

  private adopt(c: ContainerInfo): void {
    switch (c.status) {
      case 'created':
        this.transition(TaskState.TASK_STATE_READY);
        return;
      case 'running':
      case 'paused':
      case 'restarting':
        this.pid = c.pid;
        this.exited = this.waitExit(c.id, 'not-running');
        this.transition(TaskState.TASK_STATE_RUNNING);
        if (this.task.spec?.containerSpec) void this.resumeHealth();
        return;
      default:
        // Exited while the worker was away. Asked to stop, the exit is our stop's (a shoald stopped while it
        // was stopping the container): the loop reports SHUTDOWN, as swarm does. Else it is the task's real end.
        if (wantsStop(this.task.desiredState)) return;
        this.finish({ exitCode: c.exitCode, oomKilled: c.oomKilled, error: c.error || undefined });
    }
  }

  // ---------------------------------------------------------------- plumbing

  private waitExit(id: string, condition: 'next-exit' | 'not-running'): Promise<Outcome> {
    return this.deps.engine.wait(id, condition, this.closed.signal).then(
      (r: WaitResult): Outcome => ({
        kind: 'exit',
        exit: { exitCode: r.exitCode, oomKilled: r.oomKilled, error: r.error },
      }),
      (e): Outcome => ({ kind: 'lost', message: (e as Error).message }),
    );
  }

  private wake(): void {
    const c = this.changed;
    this.changed = deferred();
    c.resolve();
  }

  /** Resolves once the desired state asks for a stop (or the controller closes). */
  private async stopWanted(): Promise<'stop'> {
    while (!wantsStop(this.task.desiredState) && !this.closed.signal.aborted) await this.changed.promise;
    return 'stop';
  }

  private async stopOutcome(): Promise<Outcome> {
    await this.stopWanted();
    return { kind: 'stop' };
  }

  private fatal(err: string, message = err): void {
    this.healthRun?.abort();
    this.transition(failureState(this.state), message, err);
  }

  private transition(state: TaskState, message = MESSAGE[state] ?? '', err = ''): void {
    if (state <= this.current.state || this.closed.signal.aborted) return;
    this.current = {
      state,
      timestamp: this.deps.clock.now(),
      message,
      err,
      containerStatus: this.containerId
        ? { containerId: this.containerId, pid: this.pid, exitCode: this.exitCode }
        : undefined,
      portStatus: undefined,
    };
    this.deps.report(structuredClone(this.current));
  }
}

function emptyStatus(state: TaskState, prev: TaskStatus | undefined): TaskStatus {
  return {
    state,
    timestamp: prev?.timestamp ?? 0,
    message: prev?.message ?? '',
    err: prev?.err ?? '',
    containerStatus: prev?.containerStatus,
    portStatus: prev?.portStatus,
  };
}
