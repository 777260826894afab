// The seam between the agent and the executor (worker/executor implements it against the engine). The
// agent decides *which* tasks this node holds and what each should be; the executor makes a container match
// and says what it observes. All calls return at once (work continues in the background) and are idempotent:
// after a restart the agent calls run() again for tasks whose containers may already exist, and the
// executor adopts them.
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';

/** An observation of a task: state only moves forward (ACCEPTED … RUNNING → COMPLETE/FAILED/SHUTDOWN/REJECTED). */
export interface TaskStatusReport {
  taskId: string;
  status: TaskStatus;
}

export interface Executor {
  /**
   * A task assigned to this node with desired state ≤ RUNNING: prepare it, and start it when desiredState is
   * RUNNING (READY: prepare only, wait for an update). Also called at start-up for every task the agent had
   * persisted: an existing container is adopted and its actual state reported.
   */
  run(task: Task): void;
  /** A task already run() changed (e.g. desired READY → RUNNING, or new network attachments). */
  update(task: Task): void;
  /**
   * Desired state is SHUTDOWN or beyond: stop the container (its grace period from the spec) and report
   * SHUTDOWN, or the terminal state it had reached. A task the executor never ran is reported SHUTDOWN at once.
   */
  shutdown(task: Task): void;
  /** The task is no longer assigned: stop it if needed and delete its container and resources. No more reports. */
  remove(taskId: string): void;
  /** Where observations go; set once by the agent before any other call. */
  onStatus(listener: (report: TaskStatusReport) => void): void;
}
