// The restart supervisor's rules (swarmkit's restart.Supervisor, made pure): whether a task that ended is
// replaced, and when its replacement may start.
//
// Attempts are counted from the store, not from memory, so a new leader decides as the old one would: the
// restarts of a slot are the tasks of its current run of identical specs (an update starts a new run), minus the
// first, created within `window` before the failure (whole run when no window). The reaper keeps at least
// max_attempts+1 tasks per slot so the count survives history pruning.
//
// Delay: a restart is created with desired state READY (nothing schedules it) and moved to RUNNING once
// meta.created_at + delay has passed; the pure function reports that time as wakeAt so the runner comes back.

import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { RestartCondition, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { restartPolicyOf } from './spec.js';
import { byAge, createdAt, sameSpec } from './task.js';

export const durationMs = (d: Duration | undefined): number =>
  d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0;

export const restartDelayMs = (t: Task): number => durationMs(restartPolicyOf(t.spec)?.delay);

/** Restarts already made in the failed task's run (see the file comment). */
export function restartsBefore(failed: Task, group: readonly Task[]): number {
  const older = group.filter((t) => byAge(t, failed) <= 0).sort(byAge);
  const run: Task[] = [];
  for (let i = older.length - 1; i >= 0 && sameSpec(older[i].spec, failed.spec); i--) run.push(older[i]);
  const restarts = run.slice(0, -1); // the run's first task was not a restart
  const windowMs = durationMs(restartPolicyOf(failed.spec)?.window);
  if (windowMs <= 0) return restarts.length;
  const at = failed.status?.timestamp || createdAt(failed);
  return restarts.filter((t) => createdAt(t) > at - windowMs).length;
}

/** Whether the policy lets `failed` (which ended while wanted) be replaced. `group`: its slot's tasks. */
export function shouldRestart(failed: Task, group: readonly Task[]): boolean {
  const policy = restartPolicyOf(failed.spec);
  const condition = policy?.condition ?? RestartCondition.RESTART_CONDITION_UNSPECIFIED;
  if (condition === RestartCondition.RESTART_CONDITION_NONE) return false;
  if (
    condition === RestartCondition.RESTART_CONDITION_ON_FAILURE &&
    failed.status?.state === TaskState.TASK_STATE_COMPLETE
  ) {
    return false;
  }
  const max = policy?.maxAttempts ?? 0;
  if (max === 0) return true;
  return restartsBefore(failed, group) < max;
}

/** When a delayed restart (desired READY) may run. */
export const startAt = (t: Task): number => createdAt(t) + restartDelayMs(t);
