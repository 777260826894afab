// The seam between the agent and the executor (worker/executor's TaskExecutor satisfies it as is). The
// agent decides *which* tasks this node holds and what each should be; the executor makes containers match
// and says what it observes. Calls are keyed by task id, return at once (work goes on in the background)
// and are idempotent: after a reconnect or a restart the agent replays its whole set.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';

/** An observation of a task; per task, in order and never backwards. */
export interface TaskStatusReport {
  taskId: string;
  status: TaskStatus;
}

export interface Executor {
  /**
   * A task newly held by this node: drive it toward task.desiredState (READY: prepare only; RUNNING: start;
   * SHUTDOWN or beyond: do not start, report SHUTDOWN).
   */
  run(task: Task): void;
  /** A newer copy of a task already run (desired state moved on, e.g. READY → RUNNING or → SHUTDOWN). */
  update(task: Task): void;
  /** Desired state reached SHUTDOWN: stop the container (grace period from the spec), report SHUTDOWN. */
  shutdown(taskId: string): Promise<void> | void;
  /** The task is no longer assigned: stop it if needed, delete its container and resources, forget it. */
  remove(taskId: string): Promise<void> | void;
  /** Where observations go; the agent subscribes once, before any other call. */
  onStatus(listener: (report: TaskStatusReport) => void): unknown;
  /**
   * Optional, at start-up: adopt the containers left by the previous run for `known` (the agent's persisted
   * tasks) and return their actual states. The agent then calls run() for each known task.
   */
  restore?(known: Task[]): Promise<TaskStatusReport[]>;
  /**
   * Optional: every task the executor has a container for. After each COMPLETE assignment set the agent
   * removes those not in it (containers of tasks it had lost track of, e.g. with its state file).
   */
  list?(): { taskId: string }[];
}
