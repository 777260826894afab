// Pure: the observed task states the executor reports, their swarm messages, and how a container's
// exit becomes a terminal state.
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';

export { TaskState };

/** States after which nothing more happens to a task (ORPHANED is the dispatcher's, never ours). */
export const isTerminal = (s: TaskState): boolean => s >= TaskState.TASK_STATE_COMPLETE;

/** Swarm's desired-state rule: at or past SHUTDOWN the task is to be stopped. */
export const wantsStop = (desired: TaskState): boolean => desired >= TaskState.TASK_STATE_SHUTDOWN;

/** swarmkit's transition messages (what `docker inspect` shows as Status.Message). */
export const MESSAGE: Partial<Record<TaskState, string>> = {
  [TaskState.TASK_STATE_ACCEPTED]: 'accepted',
  [TaskState.TASK_STATE_PREPARING]: 'preparing',
  [TaskState.TASK_STATE_READY]: 'prepared',
  [TaskState.TASK_STATE_STARTING]: 'starting',
  [TaskState.TASK_STATE_RUNNING]: 'started',
  [TaskState.TASK_STATE_COMPLETE]: 'finished',
  [TaskState.TASK_STATE_SHUTDOWN]: 'shutdown',
};

/** A fatal error's state: REJECTED before the container was being started, FAILED from then on. */
export const failureState = (current: TaskState): TaskState =>
  current < TaskState.TASK_STATE_STARTING ? TaskState.TASK_STATE_REJECTED : TaskState.TASK_STATE_FAILED;

export interface Exit {
  exitCode: number;
  oomKilled: boolean;
  /** Why the executor stopped it, when it did (health). */
  cause?: string;
  /** The engine's own error for the exit (a monitor that vanished). */
  error?: string;
}

/**
 * An exit as swarm reports it: COMPLETE for 0, else FAILED with "task: non-zero exit (N)[: cause]".
 * A container the executor stopped for a cause (unhealthy) fails whatever its code.
 */
export function exitOutcome(e: Exit): { state: TaskState; err: string } {
  if (e.exitCode === 0)
    return e.cause
      ? { state: TaskState.TASK_STATE_FAILED, err: `task: ${e.cause}` }
      : { state: TaskState.TASK_STATE_COMPLETE, err: '' };
  const cause = e.cause ?? (e.oomKilled ? 'OOM killed' : e.error || undefined);
  const err = `task: non-zero exit (${e.exitCode})${cause ? `: ${cause}` : ''}`;
  return { state: TaskState.TASK_STATE_FAILED, err };
}
