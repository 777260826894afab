// Which tasks a node is told about, as pure functions of store objects.
//
// A task is in its node's assignment set once the scheduler placed it (observed state ASSIGNED or later) and
// while the worker has something to do with it: it should run (desired ≤ RUNNING), or it should stop and the
// worker has not yet reported it stopped. A task that left the set (reported stopped, or deleted from the
// store) is sent as a REMOVE: the worker removes its container.
import { isDeepStrictEqual } from 'node:util';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';

export function isAssigned(task: Task, nodeId: string): boolean {
  if (task.nodeId !== nodeId) return false;
  const observed = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
  if (observed < TaskState.TASK_STATE_ASSIGNED) return false;
  if (task.desiredState <= TaskState.TASK_STATE_RUNNING) return true;
  return observed < TaskState.TASK_STATE_COMPLETE;
}

/** The task as a worker gets it: without `running_since`, a manager-side fact (so a worker sees no change). */
export const forWorker = (t: Task): Task => (t.runningSince ? { ...t, runningSince: 0 } : t);

/** Fields a worker does not act on: its own reports coming back, the store's meta, a manager-side time. */
const NOT_FOR_WORKER = new Set(['status', 'meta', 'runningSince']);

/**
 * Whether two copies of a task differ only in what a worker does not act on (observed status, store meta,
 * running_since). Field by field: the store shares a field an update did not change with the previous copy
 * (tx.ts), so most fields are the same object and only the rest are compared deeply.
 */
export function sameForWorker(a: Task, b: Task): boolean {
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  for (const k in x) {
    if (NOT_FOR_WORKER.has(k) || x[k] === y[k]) continue;
    if (!isDeepStrictEqual(x[k], y[k])) return false;
  }
  for (const k in y) if (!(k in x) && !NOT_FOR_WORKER.has(k) && y[k] !== undefined) return false;
  return true;
}

/**
 * The secrets and configs a task mounts, as "secret/<id>" and "config/<id>": what its node must hold while
 * the task is assigned there (and only then).
 */
export function dependenciesOf(task: Task): string[] {
  const c = task.spec?.containerSpec;
  return [
    ...(c?.secrets ?? []).map((r) => `secret/${r.secretId}`),
    ...(c?.configs ?? []).map((r) => `config/${r.configId}`),
  ];
}
