// Service updates: which tasks no longer match their service's spec, and which of them to replace now.
// Today every dirty task is replaced at once; a rolling updater driven by spec.update (parallelism, delay,
// order, failure action) replaces `planUpdate` and keeps the same inputs.
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { nodeMatches, parseConstraints } from '../scheduler/constraint.js';
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

/** Of the dirty tasks of a service, those to replace in this pass (all of them: no rolling update yet). */
export function planUpdate(_service: Service, dirty: readonly Task[]): readonly Task[] {
  return dirty;
}
