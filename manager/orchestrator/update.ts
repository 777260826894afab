// Service updates, swarmkit's updater made a pure function of the store: which tasks no longer match their
// service's spec (dirty), which of them to replace in this pass, and the service's UpdateStatus.
//
// Nothing is kept in memory between passes, so a new leader goes on exactly where the old one stopped:
// - the update's own task in a slot is the first task of the slot's current run of tasks with the service's
//   spec, made since UpdateStatus.started_at (a restart of it is not the update's);
// - it is "up" once stored RUNNING (a task with a health check is reported RUNNING only once healthy), from
//   its status's running_since; it failed when it ended by itself (FAILED, REJECTED, COMPLETE) before it was
//   up or within `monitor` of it — failures ÷ slots of the update above max_failure_ratio trigger the
//   failure action: pause, continue, or rollback (to previous_spec, at the rollback config's pace; a failing
//   rollback pauses, it is never itself rolled back);
// - pace: at most `parallelism` slots busy (0: all), a slot being busy from its replacement's creation until
//   `delay` after the replacement came up;
// - completed once no slot is dirty or busy and every replacement has stayed up `monitor` (as swarmkit:
//   after the last one's `delay`; when delay ≥ monitor, delay + 1 s).
// How a slot is replaced (stop-first: the new task waits, desired READY, until the old one stopped;
// start-first: the old one is shut down once the new one runs) is slot.ts's part.

import { compareText } from '../../common/compare.js';
import type { Duration } from '../../proto/gen/google/protobuf/duration.js';
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import {
  TaskState,
  type UpdateConfig,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
  type UpdateStatus,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { nodeMatches, parseConstraints } from '../scheduler/constraint.js';
import type { SlotContext } from './slot.js';
import { endpointSpecOf, taskTemplate } from './spec.js';
import {
  byAge,
  createdAt,
  endedByItself,
  isLive,
  isTerminal,
  nodeLost,
  sameEndpointSpec,
  sameSpec,
} from './task.js';

/**
 * The task was made from another spec than the service's current one. A task made at the current service
 * version is clean; so is one whose spec differs only in placement constraints its node still satisfies
 * (swarmkit's rule: no needless restart when constraints are edited).
 */
export function isDirty(service: Service, t: Task, node: Node | undefined): boolean {
  if (t.serviceVersion === (service.meta?.version ?? 0)) return false;
  // Published ports changed (swarmkit compares the task's copy of the endpoint spec too).
  if (t.endpoint && !sameEndpointSpec(endpointSpecOf(service), t.endpoint.spec)) return true;
  const want = taskTemplate(service);
  if (sameSpec(want, t.spec)) return false;
  if (!node || !want) return true;
  const withOldPlacement = TaskSpec.fromPartial({ ...want, placement: t.spec?.placement });
  if (!sameSpec(withOldPlacement, t.spec)) return true;
  try {
    return !nodeMatches(parseConstraints(want.placement?.constraints ?? []), node);
  } catch {
    return true;
  }
}

/** One slot of a service for the updater: a replicated slot, or a global service's node. */
export interface UpdateSlot {
  /** Every task of the slot, history included. */
  tasks: readonly Task[];
}

export interface UpdatePlan {
  /** Dirty tasks to replace in this pass. */
  replaceNow: ReadonlySet<string>;
  /** Start-first: the old task keeps running until its replacement runs. */
  startFirst: boolean;
}

const RUNNING = TaskState.TASK_STATE_RUNNING;
const { UPDATE_STATE_UPDATING: UPDATING, UPDATE_STATE_PAUSED: PAUSED } = UpdateState;
const {
  UPDATE_STATE_COMPLETED: COMPLETED,
  UPDATE_STATE_ROLLBACK_STARTED: ROLLBACK_STARTED,
  UPDATE_STATE_ROLLBACK_PAUSED: ROLLBACK_PAUSED,
  UPDATE_STATE_ROLLBACK_COMPLETED: ROLLBACK_COMPLETED,
} = UpdateState;

const ms = (d: Duration | undefined): number => (d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0);

/** Swarmkit's defaults for a service stored without an update (or rollback) config. */
const DEFAULT_CONFIG: UpdateConfig = {
  parallelism: 1,
  delay: undefined,
  failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_PAUSE,
  monitor: { seconds: 5, nanos: 0 },
  maxFailureRatio: 0,
  order: UpdateOrder.UPDATE_ORDER_STOP_FIRST,
};

/** The config that paces the current rollout: the rollback config while rolling back. */
export function rolloutConfig(service: Service): UpdateConfig {
  const state = service.updateStatus?.state;
  const rollingBack = state === ROLLBACK_STARTED || state === ROLLBACK_PAUSED;
  return (rollingBack ? service.spec?.rollbackConfig : service.spec?.updateConfig) ?? DEFAULT_CONFIG;
}

/** The update's own task of a slot (see the file comment), if it made one since `since`. */
export function updateTaskOf(
  service: Service,
  tasks: readonly Task[],
  since: number,
  nodes: ReadonlyMap<string, Node>,
): Task | undefined {
  const sorted = [...tasks].sort(byAge);
  let first: Task | undefined;
  for (let i = sorted.length - 1; i >= 0 && !isDirty(service, sorted[i], nodes.get(sorted[i].nodeId)); i--)
    first = sorted[i];
  return first && createdAt(first) >= since ? first : undefined;
}

/** When the task came up (stored RUNNING), or 0. */
const upAt = (t: Task): number => t.runningSince || (t.status?.state === RUNNING ? t.status.timestamp : 0);

/** Replaced but not up yet: still starting (not RUNNING, not ended). */
const pending = (t: Task): boolean => isLive(t) && (t.status?.state ?? 0) < RUNNING;

/** It ended by itself before it was up, or within `monitorMs` of it. */
function failedEarly(t: Task, monitorMs: number): boolean {
  if (!endedByItself(t)) return false;
  const up = t.runningSince;
  return up === 0 || (t.status?.timestamp ?? 0) - up <= monitorMs;
}

const status = (
  prev: UpdateStatus | undefined,
  state: UpdateState,
  message: string,
  patch: Partial<UpdateStatus> = {},
): UpdateStatus => ({
  state,
  startedAt: prev?.startedAt ?? 0,
  completedAt: 0,
  message,
  ...patch,
});

/**
 * The rollout's decision for one service: the dirty tasks to replace now, and the service's UpdateStatus
 * (or its spec, on an automatic rollback) written through `ctx.out.updateService`.
 */
export function planUpdate(
  service: Service,
  slots: readonly UpdateSlot[],
  ctx: Pick<SlotContext, 'now' | 'out' | 'nodes'>,
): UpdatePlan {
  const config = rolloutConfig(service);
  const startFirst = config.order === UpdateOrder.UPDATE_ORDER_START_FIRST;
  const none: UpdatePlan = { replaceNow: new Set(), startFirst };
  const current = service.updateStatus;
  const state = current?.state ?? UpdateState.UPDATE_STATE_UNSPECIFIED;
  const inProgress = state === UPDATING || state === ROLLBACK_STARTED;
  const since = inProgress || state === PAUSED || state === ROLLBACK_PAUSED ? (current?.startedAt ?? 0) : 0;
  const monitorMs = ms(config.monitor);
  const delayMs = ms(config.delay);

  /** Per dirty slot, its dirty live tasks (the first one orders the slots). */
  const dirty: Task[][] = [];
  const ours: Task[] = [];
  for (const s of slots) {
    const live = s.tasks.filter(
      (t) => isLive(t) && !isTerminal(t) && !(t.nodeId !== '' && nodeLost(ctx.nodes.get(t.nodeId))),
    );
    const d = live.filter((t) => isDirty(service, t, ctx.nodes.get(t.nodeId)));
    const mine = updateTaskOf(service, s.tasks, since, ctx.nodes);
    if (mine) ours.push(mine);
    // A slot that has its replacement already (start-first: old and new side by side until the new one
    // runs) is the slot's business, not picked again.
    if (d.length > 0 && d.length === live.length) dirty.push(d);
  }

  // No rollout under way (none yet, or the last one finished): dirty tasks start one. A finished rollout
  // meets dirty tasks when a node no longer meets edited constraints, or a spec was written past the control
  // API. Marking it UPDATING (swarmkit replaces them under the old status) shows it to users, and makes every
  // later pass look at the whole service: its pace depends on every slot (scope.ts).
  const finished =
    state === UpdateState.UPDATE_STATE_UNSPECIFIED || state === COMPLETED || state === ROLLBACK_COMPLETED;
  if (finished && dirty.length === 0) return none;
  if (finished) {
    ctx.out.updateService({
      ...service,
      updateStatus: status(undefined, UPDATING, 'update in progress', { startedAt: ctx.now }),
    });
  }
  if (state === PAUSED || state === ROLLBACK_PAUSED) return none;

  if (inProgress && config.failureAction !== UpdateFailureAction.UPDATE_FAILURE_ACTION_CONTINUE) {
    const failures = ours
      .filter((t) => failedEarly(t, monitorMs))
      .sort((a, b) => (a.status?.timestamp ?? 0) - (b.status?.timestamp ?? 0));
    const total = dirty.length + ours.length;
    if (failures.length > 0 && failures.length / total > config.maxFailureRatio) {
      failureAction(service, config, failures[failures.length - 1], ctx);
      return none;
    }
  }

  // Busy slots: a replacement starting, or up less than `delay` ago.
  let busy = 0;
  let lastUp = 0;
  for (const t of ours) {
    if (pending(t)) {
      busy++;
      continue;
    }
    const up = upAt(t) || t.status?.timestamp || 0;
    lastUp = Math.max(lastUp, up);
    if (delayMs > 0 && up + delayMs > ctx.now) {
      busy++;
      ctx.out.wakeAt(up + delayMs);
    }
  }

  if (dirty.length === 0) {
    if (inProgress && busy === 0) complete(service, lastUp, delayMs, monitorMs, ctx);
    return none;
  }
  const budget = config.parallelism > 0 ? config.parallelism - busy : dirty.length;
  if (budget <= 0) return none;
  const key = (ts: Task[]) => ts[0];
  const picked = [...dirty]
    .sort((x, y) => {
      const a = key(x);
      const b = key(y);
      return a.slot - b.slot || compareText(a.nodeId, b.nodeId);
    })
    .slice(0, budget);
  return { replaceNow: new Set(picked.flat().map((t) => t.id)), startFirst };
}

/** Completed (or rollback completed) once the last replacement has been up for the monitor period. */
function complete(
  service: Service,
  lastUp: number,
  delayMs: number,
  monitorMs: number,
  ctx: Pick<SlotContext, 'now' | 'out'>,
): void {
  const settle = delayMs >= monitorMs && delayMs > 0 ? delayMs + 1000 : monitorMs;
  const at = lastUp > 0 ? lastUp + delayMs + settle : ctx.now;
  if (ctx.now < at) {
    ctx.out.wakeAt(at);
    return;
  }
  const rollingBack = service.updateStatus?.state === ROLLBACK_STARTED;
  ctx.out.updateService({
    ...service,
    updateStatus: status(
      service.updateStatus,
      rollingBack ? ROLLBACK_COMPLETED : COMPLETED,
      rollingBack ? 'rollback completed' : 'update completed',
      { completedAt: ctx.now },
    ),
  });
}

/** Pause, or roll back to the previous spec; a rollback that fails is paused, never rolled back. */
function failureAction(
  service: Service,
  config: UpdateConfig,
  failed: Task,
  ctx: Pick<SlotContext, 'out'>,
): void {
  const rollingBack = service.updateStatus?.state === ROLLBACK_STARTED;
  const pausedState = rollingBack ? ROLLBACK_PAUSED : PAUSED;
  const why = `due to failure or early termination of task ${failed.id}`;
  if (config.failureAction !== UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK) {
    ctx.out.updateService({
      ...service,
      updateStatus: status(service.updateStatus, pausedState, `update paused ${why}`),
    });
    return;
  }
  if (rollingBack || !service.previousSpec) {
    const what = rollingBack ? 'rollback paused' : 'update paused (no previous spec to roll back to)';
    ctx.out.updateService({
      ...service,
      updateStatus: status(service.updateStatus, pausedState, `${what} ${why}`),
    });
    return;
  }
  const spec = service.previousSpec;
  ctx.out.updateService({
    ...service,
    spec,
    previousSpec: undefined,
    endpoint: { ...(service.endpoint ?? { ports: [], virtualIps: [] }), spec: spec.endpointSpec },
    updateStatus: status(service.updateStatus, ROLLBACK_STARTED, `update rolled back ${why}`),
  });
}
