// Service updates: which tasks no longer match their service's spec, and which of them to replace now: a
// rolling update by the update config (the rollback config while a rollback runs) — at most `parallelism`
// replacements starting at a time (0: all at once), `delay` after the last one came up before the next
// batch. Order (start-first), failure action, monitor and max failure ratio are not applied yet: every
// replacement stops the old task first and the update carries on past failures.
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { nodeMatches, parseConstraints } from '../scheduler/constraint.js';
import type { SlotContext } from './slot.js';
import { endpointSpecOf, taskTemplate } from './spec.js';
import { sameEndpointSpec, sameSpec } from './task.js';

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

const RUNNING = TaskState.TASK_STATE_RUNNING;

/**
 * Of the dirty tasks of a service, those to replace in this pass. `live` is every live task of the service
 * (dirty ones included); a clean one that should run but is not running yet is a replacement in flight.
 */
export function planUpdate(
  service: Service,
  dirty: readonly Task[],
  live: readonly Task[],
  ctx: Pick<SlotContext, 'now' | 'out'>,
): readonly Task[] {
  if (dirty.length === 0) return dirty;
  const rollingBack = service.updateStatus?.state === UpdateState.UPDATE_STATE_ROLLBACK_STARTED;
  const config = rollingBack ? service.spec?.rollbackConfig : service.spec?.updateConfig;
  if (!config) return dirty;
  const dirtyIds = new Set(dirty.map((t) => t.id));
  const fresh = live.filter((t) => !dirtyIds.has(t.id));
  const delayMs = config.delay ? config.delay.seconds * 1000 + Math.round(config.delay.nanos / 1e6) : 0;
  if (delayMs > 0) {
    const version = service.meta?.version ?? 0;
    const cameUp = fresh
      .filter((t) => t.serviceVersion === version && t.status?.state === RUNNING)
      .map((t) => t.status?.timestamp ?? 0);
    const last = cameUp.length ? Math.max(...cameUp) : 0;
    if (last > 0 && ctx.now < last + delayMs) {
      ctx.out.wakeAt(last + delayMs);
      return [];
    }
  }
  if (config.parallelism <= 0) return dirty;
  const inFlight = fresh.filter((t) => t.desiredState === RUNNING && (t.status?.state ?? 0) < RUNNING).length;
  const budget = config.parallelism - inFlight;
  if (budget <= 0) return [];
  return [...dirty].sort((a, b) => a.slot - b.slot || (a.nodeId < b.nodeId ? -1 : 1)).slice(0, budget);
}
