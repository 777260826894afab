// The orchestrator's decision: what tasks should exist for every service, as a pure function of a store view,
// the time and an id generator. The runner commits the result; running it again on the resulting state
// decides nothing more (a fixpoint), which is what lets a new leader resume from the store alone. Given a
// scope (scope.ts: what changed since the last pass), it looks at that part only and decides the same.
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { ReadTx } from '../store/index.js';
import { DecisionSet, type Decisions, type Growth, MAX_CREATES_PER_PASS } from './decisions.js';
import { reconcileGlobal } from './global.js';
import { reapTasks } from './reaper.js';
import { growReplicated, reconcileReplicated, reconcileReplicatedSlot } from './replicated.js';
import { type Scope, scopedServiceIds, tasksOfSlots } from './scope.js';
import type { SlotContext } from './slot.js';
import { withDesired } from './task.js';

export interface PassOptions {
  /** Look at what changed only (scope.ts); undefined: at everything. */
  scope?: Scope;
  /** The last pass's carry (Decisions.carry): services it left short of slots. Ignored without a scope. */
  carry?: unknown;
  /** Scale-up creations one pass makes at most (MAX_CREATES_PER_PASS). */
  maxCreates?: number;
}

export function orchestrate(
  view: ReadTx,
  now: number,
  newId: () => string,
  options: PassOptions = {},
): Decisions {
  const out = new DecisionSet();
  const nodes = new Map<string, Node>(view.list('node').map((n) => [n.id, n]));
  const cluster = view.list('cluster')[0];
  const ctx: SlotContext = {
    now,
    newId,
    out,
    nodes,
    creates: { left: options.maxCreates ?? MAX_CREATES_PER_PASS },
  };
  if (options.scope) orchestrateScope(view, ctx, cluster, options.scope, growthOf(options.carry));
  else orchestrateAll(view, ctx, cluster);
  return out.result();
}

const growthOf = (carry: unknown): ReadonlyMap<string, Growth> =>
  carry instanceof Map ? (carry as ReadonlyMap<string, Growth>) : new Map();

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

function orchestrateScope(
  view: ReadTx,
  ctx: SlotContext,
  cluster: Cluster | undefined,
  scope: Scope,
  growth: ReadonlyMap<string, Growth>,
): void {
  // Attachments of a node that is gone (its tasks' slots and global services are in the scope: scopeIn).
  for (const id of scope.changedNodes)
    if (!ctx.nodes.has(id))
      for (const t of view.find('task', 'node', id)) if (isAttachment(t)) ctx.out.remove(t);
  for (const id of scope.loose) {
    const t = view.get('task', id);
    if (t && isAttachment(t) && !ctx.nodes.has(t.nodeId)) ctx.out.remove(t);
  }
  const ids = scopedServiceIds(scope);
  for (const id of growth.keys()) ids.add(id);
  for (const id of [...ids].sort()) {
    const service = view.get('service', id);
    const slots = scope.slots.get(id);
    const growing = growth.get(id);
    if (!service) {
      reconcileOrphans(ctx, cluster, view.find('task', 'service', id));
      continue;
    }
    const alone = bySlotAlone(service);
    const stillGrowing = growing && alone && growing.version === (service.meta?.version ?? 0);
    if (scope.services.has(id) || !alone || (growing && !stillGrowing)) {
      reconcileService(ctx, cluster, service, view.find('task', 'service', id));
      continue;
    }
    for (const tasks of slots ? tasksOfSlots(view, id, slots) : []) {
      reconcileReplicatedSlot(ctx, service, tasks);
      reapTasks(ctx.out, service, tasks, ctx.nodes, cluster);
    }
    if (growing) {
      const mode = service.spec?.mode;
      const replicas = mode?.$case === 'replicated' ? mode.value.replicas : 0;
      growReplicated(ctx, service, replicas - growing.taken.size, new Set(growing.taken));
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
