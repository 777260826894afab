// The simulated executor (`shoald --executor=sim`): the agent's executor port without containers. Every task
// goes through the states a container's would — ACCEPTED, PREPARING, READY, STARTING, RUNNING; SHUTDOWN when
// asked to stop — one state per tick, so one machine can carry a thousand worker nodes (the scale benchmark)
// while the managers see exactly what real workers send. Nothing runs and nothing exits on its own.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isTerminal, MESSAGE, TaskState, wantsStop } from './task-state.js';
import type { StatusListener, StatusReport, TaskExecutor } from './types.js';

/** The state after `current` on the way to `desired` (READY or RUNNING), or undefined once there. Pure. */
export function nextSimState(current: TaskState | undefined, desired: TaskState): TaskState | undefined {
  if (current !== undefined && isTerminal(current)) return undefined;
  if (wantsStop(desired)) return TaskState.TASK_STATE_SHUTDOWN;
  const target =
    desired >= TaskState.TASK_STATE_RUNNING ? TaskState.TASK_STATE_RUNNING : TaskState.TASK_STATE_READY;
  if (current === undefined || current < TaskState.TASK_STATE_ACCEPTED) return TaskState.TASK_STATE_ACCEPTED;
  if (current >= target) return undefined;
  // The worker's states are 64 apart: ACCEPTED → PREPARING → READY → STARTING → RUNNING.
  return current + 64;
}

export interface SimExecutorOptions {
  /** Calls `fn` once, soon: when the next tick of state changes runs (default setImmediate). */
  defer?: (fn: () => void) => void;
  now?: () => number;
}

interface SimTask {
  desired: TaskState;
  status: TaskStatus | undefined;
}

export class SimExecutor implements TaskExecutor {
  private readonly tasks = new Map<string, SimTask>();
  /** Tasks with a state change due at the next tick. */
  private readonly moving = new Set<string>();
  private readonly listeners = new Set<StatusListener>();
  private tickDue = false;
  private closed = false;
  private readonly defer: (fn: () => void) => void;
  private readonly now: () => number;

  constructor(opts: SimExecutorOptions = {}) {
    this.defer = opts.defer ?? ((fn) => setImmediate(fn));
    this.now = opts.now ?? Date.now;
  }

  run(task: Task): void {
    const known = this.tasks.get(task.id);
    if (known) known.desired = task.desiredState;
    else this.tasks.set(task.id, { desired: task.desiredState, status: undefined });
    this.move(task.id);
  }

  update(task: Task): void {
    this.run(task);
  }

  async shutdown(taskId: string): Promise<void> {
    const t = this.tasks.get(taskId);
    if (!t || (t.status && isTerminal(t.status.state))) return;
    t.desired = TaskState.TASK_STATE_SHUTDOWN;
    this.report(taskId, t, TaskState.TASK_STATE_SHUTDOWN);
  }

  async remove(taskId: string): Promise<void> {
    await this.shutdown(taskId);
    this.tasks.delete(taskId);
    this.moving.delete(taskId);
  }

  status(taskId: string): TaskStatus | undefined {
    return this.tasks.get(taskId)?.status;
  }

  list(): { taskId: string; status: TaskStatus }[] {
    const out: { taskId: string; status: TaskStatus }[] = [];
    for (const [taskId, t] of this.tasks) if (t.status) out.push({ taskId, status: t.status });
    return out;
  }

  /**
   * After a restart: a simulated task outlives the process as a container would, so each known task is
   * adopted at the last status the agent kept for it (nothing new is reported; run() moves it on if needed).
   */
  async restore(known: Task[] = []): Promise<StatusReport[]> {
    const out: StatusReport[] = [];
    for (const t of known) {
      if (!t.status || t.status.state < TaskState.TASK_STATE_ACCEPTED) continue;
      this.tasks.set(t.id, { desired: t.desiredState, status: t.status });
      out.push({ taskId: t.id, status: t.status });
    }
    return out;
  }

  onStatus(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.moving.clear();
  }

  /** Held tasks (ids) by current state, for the sim host's figures. */
  count(state: TaskState): number {
    let n = 0;
    for (const t of this.tasks.values()) if (t.status?.state === state) n++;
    return n;
  }

  private move(taskId: string): void {
    if (this.closed) return;
    this.moving.add(taskId);
    if (this.tickDue) return;
    this.tickDue = true;
    this.defer(() => this.tick());
  }

  /** Every moving task takes one step; those not yet there move again at the next tick. */
  private tick(): void {
    this.tickDue = false;
    const batch = [...this.moving];
    this.moving.clear();
    for (const id of batch) {
      const t = this.tasks.get(id);
      if (!t) continue;
      const next = nextSimState(t.status?.state, t.desired);
      if (next === undefined) continue;
      this.report(id, t, next);
      if (nextSimState(next, t.desired) !== undefined) this.move(id);
    }
  }

  private report(taskId: string, t: SimTask, state: TaskState): void {
    const status: TaskStatus = {
      state,
      timestamp: this.now(),
      message: MESSAGE[state] ?? '',
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    };
    t.status = status;
    for (const l of this.listeners) l({ taskId, status });
  }
}
