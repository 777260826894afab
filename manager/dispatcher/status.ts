// Checks of one task status report from a worker, pure. The dispatcher refuses outright what no honest
// worker sends (another node's task, a malformed status) and ignores, with a reason, what is merely stale
// (a state lower than the stored one: states only move forward, the larger observation wins).
import { invalidArgument, ShoalError } from '../../common/errors.js';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';

const STATES = new Set<number>(Object.values(TaskState).filter((v): v is number => typeof v === 'number'));

/** States a worker may report: from ACCEPTED on, never the desired-only REMOVE. */
export function isReportableState(s: number): boolean {
  return (
    STATES.has(s) &&
    s >= TaskState.TASK_STATE_ACCEPTED &&
    s !== TaskState.TASK_STATE_REMOVE &&
    s !== TaskState.TASK_STATE_ORPHANED
  );
}

/** Throws (invalid_argument naming the field) when the report itself is malformed. */
export function checkReport(i: number, taskId: string, status: TaskStatus | undefined): TaskStatus {
  const field = `updates[${i}]`;
  if (!taskId) throw invalidArgument(`${field}.task_id`, 'is empty');
  if (!status) throw invalidArgument(`${field}.status`, 'is missing');
  if (!isReportableState(status.state))
    throw invalidArgument(
      `${field}.status.state`,
      `${TaskState[status.state] ?? status.state} cannot be reported by a worker (ACCEPTED … REJECTED)`,
    );
  return status;
}

/** Refuses a report about a task the store gives to another node. */
export function checkOwner(nodeId: string, taskId: string, task: Task | undefined): void {
  if (task && task.nodeId !== nodeId)
    throw new ShoalError(
      'permission_denied',
      `task ${taskId} is not assigned to node ${nodeId}; its status cannot be reported by it`,
      { field: 'task_id' },
    );
}

/** Why a report would not change the stored task, or undefined when it should be written. */
export function staleReason(task: Task | undefined, status: TaskStatus): string | undefined {
  if (!task) return 'no such task (deleted)';
  const current = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
  if (status.state < current)
    return `state ${TaskState[status.state]} is behind the stored ${TaskState[current]} (states only move forward)`;
  if (status.state === current && status.message === task.status?.message && status.err === task.status?.err)
    return 'unchanged';
  return undefined;
}

/** Of two reports of one task, the one to keep: the larger state; at equal states the later one. */
export function newer(a: TaskStatus, b: TaskStatus): TaskStatus {
  if (a.state !== b.state) return a.state > b.state ? a : b;
  return b.timestamp >= a.timestamp ? b : a;
}

/**
 * The task with the report stored: `running_since` kept, or set to the report's time when it is the first
 * RUNNING one (a task that went past RUNNING between two writes has none).
 */
export function withStatus(task: Task, report: TaskStatus): Task {
  const since = task.runningSince || (report.state === TaskState.TASK_STATE_RUNNING ? report.timestamp : 0);
  return { ...task, status: report, runningSince: since };
}
