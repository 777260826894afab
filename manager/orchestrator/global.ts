// The global orchestrator: one live task per node that is ready, active and matches the service's constraints
// and platforms. Tasks are made bound to their node (the scheduler only checks them). A node that goes down,
// is drained or stops matching has its task shut down (a removed node's tasks are removed); a paused node
// keeps its task but gets no new one. Restarts and updates work per node as per slot for replicated services.

import { compareText } from '../../common/compare.js';
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { type Constraint, nodeMatches, parseConstraints } from '../scheduler/constraint.js';
import { nodeReady } from '../scheduler/filters.js';
import { reconcileSlot, type SlotContext } from './slot.js';
import { taskTemplate } from './spec.js';
import { isLive, nodeLost, withDesired } from './task.js';
import { planUpdate } from './update.js';

export function reconcileGlobal(ctx: SlotContext, service: Service, tasks: readonly Task[]): void {
  let constraints: Constraint[] | undefined;
  try {
    constraints = parseConstraints(taskTemplate(service)?.placement?.constraints ?? []);
  } catch {
    constraints = undefined; // invalid: no node matches (the control API refuses such specs)
  }
  const platforms = taskTemplate(service)?.placement?.platforms ?? [];
  const matches = (n: Node) =>
    constraints !== undefined &&
    nodeMatches(constraints, n) &&
    (platforms.length === 0 ||
      platforms.some(
        (p) =>
          (p.os === '' || p.os === n.description?.platform?.os) &&
          (p.architecture === '' || p.architecture === n.description?.platform?.architecture),
      ));
  const keepOn = (id: string) => {
    const n = ctx.nodes.get(id);
    return n !== undefined && !nodeLost(n) && matches(n);
  };
  const createOn = (id: string) => {
    const n = ctx.nodes.get(id);
    return n !== undefined && nodeReady(n) && matches(n);
  };

  const byNode = new Map<string, Task[]>();
  for (const t of tasks) {
    if (t.nodeId === '') continue;
    const list = byNode.get(t.nodeId);
    if (list) list.push(t);
    else byNode.set(t.nodeId, [t]);
  }
  for (const id of ctx.nodes.keys()) if (createOn(id) && !byNode.has(id)) byNode.set(id, []);

  const groups = [...byNode]
    .filter(([id]) => keepOn(id))
    .map(([, list]) => ({ tasks: list.filter((t) => t.desiredState < TaskState.TASK_STATE_REMOVE) }));
  const { replaceNow, startFirst } = planUpdate(service, groups, ctx);

  for (const [nodeId, list] of [...byNode].sort((a, b) => compareText(a[0], b[0]))) {
    if (!ctx.nodes.has(nodeId)) {
      // The node left the cluster: its tasks (history included) go.
      for (const t of list) {
        if (t.desiredState < TaskState.TASK_STATE_REMOVE)
          ctx.out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
      }
      continue;
    }
    if (!keepOn(nodeId)) {
      for (const t of list) if (isLive(t)) ctx.out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      continue;
    }
    const group = list.filter((t) => t.desiredState < TaskState.TASK_STATE_REMOVE);
    reconcileSlot(ctx, service, group, {
      slot: 0,
      nodeId,
      canCreate: createOn(nodeId),
      replaceNow,
      startFirst,
    });
  }
}
