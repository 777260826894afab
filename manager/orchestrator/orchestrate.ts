// The orchestrator's decision: what tasks should exist for every service, as a pure function of a store view,
// the time and an id generator. The runner commits the result; running it again on the resulting state
// decides nothing more (a fixpoint), which is what lets a new leader resume from the store alone. Given a
// scope (scope.ts: what changed since the last pass), it looks at that part only and decides the same.
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { ReadTx } from '../store/index.js';
import { DecisionSet, type Decisions } from './decisions.js';
import { reconcileGlobal } from './global.js';
import { reapTasks } from './reaper.js';
import { reconcileReplicated, reconcileReplicatedSlot } from './replicated.js';
import { type Scope, scopedServiceIds, tasksOfSlots } from './scope.js';
import type { SlotContext } from './slot.js';
import { withDesired } from './task.js';

export function orchestrate(view: ReadTx, now: number, newId: () => string, scope?: Scope): Decisions {
  const out = new DecisionSet();
  const nodes = new Map<string, Node>(view.list('node').map((n) => [n.id, n]));
  const cluster = view.list('cluster')[0];
  const ctx: SlotContext = { now, newId, out, nodes };
  if (scope) orchestrateScope(view, ctx, cluster, scope);
  else orchestrateAll(view, ctx, cluster);
  return out.result();
}

function orchestrateAll(view: ReadTx, ctx: SlotContext, cluster: Cluster | undefined): void {
  const byService = new Map<string, Task[]>();
  for (const t of view.list('task')) {
    const list = byService.get(t.serviceId);
    if (list) list.push(t);
    else byService.set(t.serviceId, [t]);
  }
  for (const service of view.list('service')) {
    reconcileService(ctx, cluster, service, byService.get(service.id) ?? []);
    byService.delete(service.id);
  }
  for (const tasks of byService.values()) reconcileOrphans(ctx, cluster, tasks);
}

function orchestrateScope(view: ReadTx, ctx: SlotContext, cluster: Cluster | undefined, scope: Scope): void {
  for (const id of [...scopedServiceIds(scope)].sort()) {
    const service = view.get('service', id);
    const slots = scope.slots.get(id);
    if (!service) reconcileOrphans(ctx, cluster, view.find('task', 'service', id));
    else if (scope.services.has(id) || !slots || !bySlotAlone(service))
      reconcileService(ctx, cluster, service, view.find('task', 'service', id));
    else
      for (const tasks of tasksOfSlots(view, id, slots)) {
        reconcileReplicatedSlot(ctx, service, tasks);
        reapTasks(ctx.out, service, tasks, ctx.nodes, cluster);
      }
  }
}

/**
 * A replicated service whose slots can be reconciled one at a time: not being removed and no rollout in
 * progress (a rollout's pace and failure ratio are over all its slots).
 */
function bySlotAlone(service: Service): boolean {
  const state = service.updateStatus?.state;
  return (
    service.spec?.mode?.$case === 'replicated' &&
    !service.pendingDelete &&
    state !== UpdateState.UPDATE_STATE_UPDATING &&
    state !== UpdateState.UPDATE_STATE_ROLLBACK_STARTED
  );
}

function reconcileService(
  ctx: SlotContext,
  cluster: Cluster | undefined,
  service: Service,
  tasks: readonly Task[],
): void {
  const { out, nodes } = ctx;
  const mode = service.spec?.mode;
  if (service.pendingDelete) {
    for (const t of tasks)
      if (t.desiredState < TaskState.TASK_STATE_REMOVE)
        out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
    reapTasks(out, undefined, tasks, nodes, cluster);
    if (tasks.length === 0) out.removeService(service);
    return;
  }
  if (mode?.$case === 'replicated') reconcileReplicated(ctx, service, tasks, mode.value.replicas);
  else if (mode?.$case === 'global') reconcileGlobal(ctx, service, tasks);
  reapTasks(out, service, tasks, nodes, cluster);
}

/**
 * Tasks whose service is gone: removed like a deleted service's. Network attachments have none: they stay
 * until their container leaves the network (the dispatcher deletes them) or their node is removed.
 */
function reconcileOrphans(ctx: SlotContext, cluster: Cluster | undefined, all: readonly Task[]): void {
  const { out, nodes } = ctx;
  const tasks: Task[] = [];
  for (const t of all)
    if (!isAttachment(t)) tasks.push(t);
    else if (!nodes.has(t.nodeId)) out.remove(t);
  for (const t of tasks)
    if (t.desiredState < TaskState.TASK_STATE_REMOVE) out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
  reapTasks(out, undefined, tasks, nodes, cluster);
}
