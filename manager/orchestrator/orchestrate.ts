// The orchestrator's decision: what tasks should exist for every service, as a pure function of a store view,
// the time and an id generator. The runner commits the result; running it again on the resulting state
// decides nothing more (a fixpoint), which is what lets a new leader resume from the store alone. Given a
// scope (scope.ts: what changed since the last pass), it looks at that part only and decides the same.
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import { type ReadTx, slotKey } from '../store/index.js';
import { type Carry, DecisionSet, type Decisions, MAX_CREATES_PER_PASS, type Sweep } from './decisions.js';
import { reconcileGlobal } from './global.js';
import { reapTasks } from './reaper.js';
import { growReplicated, reconcileReplicated, reconcileReplicatedSlot } from './replicated.js';
import type { Scope } from './scope.js';
import type { SlotContext } from './slot.js';
import { isLive, withDesired } from './task.js';
import { isDirty } from './update.js';

export interface PassOptions {
  /** Look at what changed only (scope.ts); undefined: at everything. */
  scope?: Scope;
  /** The last pass's carry (Decisions.carry): services it left short of slots. Ignored without a scope. */
  carry?: unknown;
  /** Scale-up creations one pass makes at most (MAX_CREATES_PER_PASS). */
  maxCreates?: number;
  /** A pass over everything leaves services of this many tasks or more to a sweep (SWEEP_FROM). */
  sweepFrom?: number;
  /** Slots a sweep reconciles per pass (SWEEP_SLICE). */
  sweepSlice?: number;
}

/**
 * A pass over everything (a new leader's first) reconciles a steady replicated service of this many tasks
 * or more a slice of slots per pass (the next passes go on: Decisions.carry). At 100,000 tasks the whole
 * pass held a new leader for 1-6 s under load, and lost it its leadership, over and over.
 */
export const SWEEP_FROM = 5000;
export const SWEEP_SLICE = 5000;

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
  const slice = options.sweepSlice ?? SWEEP_SLICE;
  if (options.scope) orchestrateScope(view, ctx, cluster, options.scope, carryOf(options.carry), slice);
  else orchestrateAll(view, ctx, cluster, options.sweepFrom ?? SWEEP_FROM, slice);
  return out.result();
}

const NO_CARRY: Carry = { growth: new Map(), sweeps: new Map() };
const carryOf = (carry: unknown): Carry =>
  carry && typeof carry === 'object' && 'sweeps' in carry ? (carry as Carry) : NO_CARRY;

function orchestrateAll(
  view: ReadTx,
  ctx: SlotContext,
  cluster: Cluster | undefined,
  sweepFrom: number,
  slice: number,
): void {
  const byService = new Map<string, Task[]>();
  for (const t of view.list('task')) {
    const list = byService.get(t.serviceId);
    if (list) list.push(t);
    else byService.set(t.serviceId, [t]);
  }
  for (const service of view.list('service')) {
    const tasks = byService.get(service.id) ?? [];
    byService.delete(service.id);
    const steady = tasks.length >= sweepFrom ? steadySlots(ctx, service, tasks) : undefined;
    if (!steady) {
      reconcileService(ctx, cluster, service, tasks);
      continue;
    }
    const first = nextSlice(
      ctx,
      service.id,
      { version: versionOf(service), slots: steady.slots, next: 0 },
      slice,
    );
    reconcileSlots(ctx, cluster, service, slotTasks(view, service.id, first));
    if (steady.missing > 0) growReplicated(ctx, service, steady.missing, steady.used);
  }
  for (const tasks of byService.values()) reconcileOrphans(ctx, cluster, tasks);
}

const versionOf = (s: Service): number => s.meta?.version ?? 0;

/**
 * A service a whole pass would only look at slot by slot, and scale up if short (no rollout, no scale-down,
 * every live task made from the service as it is): its slot numbers, those in use and how many are missing;
 * or undefined.
 */
function steadySlots(
  ctx: SlotContext,
  service: Service,
  tasks: readonly Task[],
): { slots: number[]; used: Set<number>; missing: number } | undefined {
  const mode = service.spec?.mode;
  if (mode?.$case !== 'replicated' || !bySlotAlone(service)) return undefined;
  const all = new Set<number>();
  const used = new Set<number>();
  const version = versionOf(service);
  for (const t of tasks) {
    all.add(t.slot);
    if (t.desiredState >= TaskState.TASK_STATE_REMOVE) continue;
    used.add(t.slot);
    // A dirty live task: the whole pass decides whether a rollout starts (isDirty is cheap for tasks of this
    // version, and compares specs by a cached canonical form for older ones).
    if (t.desiredState <= TaskState.TASK_STATE_RUNNING && t.serviceVersion !== version) {
      if (isDirty(service, t, ctx.nodes.get(t.nodeId))) return undefined;
    }
  }
  if (all.has(0) || used.size > mode.value.replicas) return undefined;
  return { slots: [...all].sort((a, b) => a - b), used, missing: mode.value.replicas - used.size };
}

/** The next slice of a sweep's slots; the rest is carried to the next pass. */
function nextSlice(ctx: SlotContext, serviceId: string, sweep: Sweep, slice: number): readonly number[] {
  const end = Math.min(sweep.slots.length, sweep.next + slice);
  if (end < sweep.slots.length) ctx.out.sweep(serviceId, { ...sweep, next: end });
  return sweep.slots.slice(sweep.next, end);
}

/** The tasks of each of `slots` (each once: reconciling a slot twice in a pass would replace a failed task
 * twice), in slot order. */
function slotTasks(view: ReadTx, serviceId: string, slots: Iterable<number>): Task[][] {
  return [...new Set(slots)]
    .sort((a, b) => a - b)
    .map((slot) => view.find('task', 'slot', slotKey(serviceId, slot)));
}

/** Reconciles slots of a replicated service one by one. */
function reconcileSlots(
  ctx: SlotContext,
  cluster: Cluster | undefined,
  service: Service,
  slots: readonly Task[][],
): void {
  for (const tasks of slots) {
    reconcileReplicatedSlot(ctx, service, tasks);
    reapTasks(ctx.out, service, tasks, ctx.nodes, cluster);
  }
}

/** A live task made from another spec: a rollout starts, paced over every slot (update.ts), so the whole
 * service is looked at. (A node that no longer meets edited constraints makes one without a service change.) */
const anyDirty = (ctx: SlotContext, service: Service, slots: readonly Task[][]): boolean =>
  slots.some((tasks) => tasks.some((t) => isLive(t) && isDirty(service, t, ctx.nodes.get(t.nodeId))));

function orchestrateScope(
  view: ReadTx,
  ctx: SlotContext,
  cluster: Cluster | undefined,
  scope: Scope,
  carry: Carry,
  slice: number,
): void {
  const { growth, sweeps } = carry;
  // Attachments of a node that is gone (its tasks' slots and global services are in the scope: scopeIn).
  for (const id of scope.changedNodes)
    if (!ctx.nodes.has(id))
      for (const t of view.findUnordered('task', 'node', id)) if (isAttachment(t)) ctx.out.remove(t);
  for (const id of scope.loose) {
    const t = view.get('task', id);
    if (t && isAttachment(t) && !ctx.nodes.has(t.nodeId)) ctx.out.remove(t);
  }
  const ids = new Set([...scope.services, ...scope.slots.keys(), ...growth.keys(), ...sweeps.keys()]);
  for (const id of [...ids].sort()) {
    const service = view.get('service', id);
    const slots = scope.slots.get(id);
    const growing = growth.get(id);
    if (!service) {
      reconcileOrphans(ctx, cluster, view.find('task', 'service', id));
      continue;
    }
    const alone = bySlotAlone(service);
    const stillGrowing = growing && alone && growing.version === versionOf(service);
    const sweep = sweeps.get(id);
    const stillSweeping = sweep && alone && sweep.version === versionOf(service);
    if (scope.services.has(id) || !alone || (growing && !stillGrowing) || (sweep && !stillSweeping)) {
      reconcileService(ctx, cluster, service, view.find('task', 'service', id));
      continue;
    }
    const swept = sweep ? nextSlice(ctx, id, sweep, slice) : [];
    const tasks = slotTasks(view, id, [...(slots ?? []), ...swept]);
    if (anyDirty(ctx, service, tasks)) {
      reconcileService(ctx, cluster, service, view.find('task', 'service', id));
      continue;
    }
    reconcileSlots(ctx, cluster, service, tasks);
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
