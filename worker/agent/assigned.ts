// The set of tasks this node holds, and the executor calls that make the node match it. Assignment
// messages change the set (COMPLETE replaces it: anything not listed is removed; INCREMENTAL applies the
// listed changes); each task's change becomes executor calls:
//
//   new ─► run        changed (what the worker acts on) ─► update, and shutdown once desired ≥ SHUTDOWN
//   left the set ─► remove
import {
  AssignmentAction,
  type AssignmentChange,
  type Assignments,
  AssignmentsType,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { Executor } from './executor-port.js';
import type { AgentState } from './state-file.js';

const stops = (t: Task) => t.desiredState >= TaskState.TASK_STATE_SHUTDOWN;

/** What the worker acts on (the task without its observed status and store meta), to skip no-op updates. */
const actionable = (t: Task) =>
  Buffer.from(Task.encode({ ...t, status: undefined, meta: undefined }).finish()).toString('base64');

export class AssignedTasks {
  private readonly tasks = new Map<string, Task>();
  private readonly statuses = new Map<string, TaskStatus>();

  constructor(
    private readonly executor: Executor,
    private readonly log: (message: string, err?: unknown) => void = () => {},
  ) {}

  /** Takes over persisted tasks after a restart and hands each to the executor again. */
  restore(state: AgentState): void {
    for (const t of state.tasks) this.set(t);
    for (const [id, s] of state.statuses) if (this.tasks.has(id)) this.statuses.set(id, s);
  }

  /** Applies one assignment message. */
  apply(msg: Assignments): void {
    const changes = msg.changes.filter((c) => c.assignment?.item?.$case === 'task');
    if (msg.type === AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE) {
      const listed = new Set(changes.map((c) => taskOf(c).id));
      for (const id of [...this.tasks.keys()]) if (!listed.has(id)) this.remove(id);
    }
    for (const c of changes) {
      const task = taskOf(c);
      if (c.action === AssignmentAction.ASSIGNMENT_ACTION_REMOVE) this.remove(task.id);
      else if (c.action === AssignmentAction.ASSIGNMENT_ACTION_UPDATE) this.set(task);
    }
  }

  /** Records an observation; false when the task is not held (a late report of a removed task). */
  observe(taskId: string, status: TaskStatus): boolean {
    if (!this.tasks.has(taskId)) return false;
    const prev = this.statuses.get(taskId);
    if (!prev || status.state >= prev.state) this.statuses.set(taskId, status);
    return true;
  }

  has(taskId: string): boolean {
    return this.tasks.has(taskId);
  }

  ids(): string[] {
    return [...this.tasks.keys()];
  }

  snapshot(): AgentState {
    return { tasks: [...this.tasks.values()], statuses: new Map(this.statuses) };
  }

  private set(task: Task): void {
    const prev = this.tasks.get(task.id);
    this.tasks.set(task.id, task);
    if (!prev) {
      this.executor.run(task);
      return;
    }
    if (actionable(prev) === actionable(task)) return;
    this.executor.update(task);
    if (stops(task) && !stops(prev)) this.settle(this.executor.shutdown(task.id), `shutdown of ${task.id}`);
  }

  private settle(p: Promise<void> | void, what: string): void {
    if (p && typeof p.then === 'function') p.catch((err) => this.log(`${what} failed`, err));
  }

  private remove(id: string): void {
    if (!this.tasks.delete(id)) return;
    this.statuses.delete(id);
    this.settle(this.executor.remove(id), `removal of ${id}`);
  }
}

function taskOf(c: AssignmentChange): Task {
  const item = c.assignment?.item;
  if (item?.$case !== 'task') throw new Error('not a task assignment');
  return item.value;
}
