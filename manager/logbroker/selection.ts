// Pure parts of the log broker: which tasks a request selects, which node reads each, and which are missing
// because their node cannot be asked (no session with the leader).

import { compareText } from '../../common/compare.js';
import type {
  LogSelector,
  LogSubscriptionOptions,
  TaskLogRead,
} from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';

/**
 * Whether a task can have logs: placed on a node and its container created (READY or later). Earlier tasks
 * join a followed subscription when they get there.
 */
export function hasLogs(t: Task): boolean {
  return t.nodeId !== '' && (t.status?.state ?? 0) >= TaskState.TASK_STATE_READY;
}

/** The tasks a selector names (by service or by id) that can have logs, oldest slot first. */
export function selectTasks(tasks: readonly Task[], selector: LogSelector): Task[] {
  const services = new Set(selector.serviceIds);
  const ids = new Set(selector.taskIds);
  return tasks
    .filter((t) => (services.has(t.serviceId) || ids.has(t.id)) && hasLogs(t))
    .sort((a, b) => a.slot - b.slot || compareText(a.nodeId, b.nodeId) || compareText(a.id, b.id));
}

/** Whether a task (e.g. one just placed) belongs to a followed selector. */
export function selects(selector: LogSelector, t: Task): boolean {
  return selector.serviceIds.includes(t.serviceId) || selector.taskIds.includes(t.id);
}

export interface ReadPlan {
  /** node id → the tasks it reads. */
  reads: Map<string, Task[]>;
  /** Tasks whose node cannot be asked, with why. */
  missing: { task: Task; reason: string }[];
}

/** Splits tasks by node: a node with a session reads its tasks, the others' tasks are missing. */
export function planReads(
  tasks: readonly Task[],
  hasSession: (nodeId: string) => boolean,
  nodeOf: (nodeId: string) => Node | undefined,
): ReadPlan {
  const reads = new Map<string, Task[]>();
  const missing: ReadPlan['missing'] = [];
  for (const t of tasks) {
    if (hasSession(t.nodeId)) {
      const xs = reads.get(t.nodeId) ?? [];
      xs.push(t);
      reads.set(t.nodeId, xs);
    } else missing.push({ task: t, reason: unreachableReason(t.nodeId, nodeOf(t.nodeId)) });
  }
  return { reads, missing };
}

/** Why a node's logs cannot be had, in the words `node ls` would use. */
export function unreachableReason(nodeId: string, node: Node | undefined): string {
  const name = node?.description?.hostname || nodeId;
  if (!node) return `node ${name} is no longer in the cluster`;
  if (node.status?.state === NodeState.NODE_STATE_DOWN)
    return `node ${name} is down${node.status.message ? ` (${node.status.message})` : ''}`;
  return `node ${name} has no session with the managers`;
}

/** How a node reads a task: the request's tail and since, or a resume point after the last line seen. */
export function taskRead(t: Task, options: LogSubscriptionOptions, resumeAfter?: number): TaskLogRead {
  if (resumeAfter !== undefined)
    // Just past the last line delivered (microseconds: the json-file's nanoseconds lose nothing that matters).
    return { taskId: t.id, serviceId: t.serviceId, tail: -1, since: resumeAfter + 1e-6 };
  return { taskId: t.id, serviceId: t.serviceId, tail: options.tail, since: options.since };
}
