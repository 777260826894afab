// What a reconcile pass has to look at, from the store events since the last pass. At 100,000 tasks a pass
// over everything took the leader 0.3–3 s (long enough to cost it its leadership), though most passes follow a
// few hundred task changes. A pass scoped to what changed reaches the same decisions as a full one, provided
// the state before those changes was one the orchestrator had already acted on (scope.property.test.ts):
// - a service changed (created, edited, marked for removal): the whole service;
// - a task changed: its slot (replicated) or its whole service (global tasks, attachments), and, if it has
//   networks, the nodes it was and is bound to (their network attachments);
// - a live task deleted by someone else: its whole service (a slot may have been freed);
// - a node changed in what the orchestrator reads of it (its state, spec, description or role; joined or
//   removed): the slots of the tasks on it, every global service whole, the node's attachments. A node
//   registering again as it was (every node, after a new leader) changes none of that;
// - the cluster object or a network changed: everything (history limits, allocation) — rare.
// And (orchestrate.ts) a slot in scope holding a live task made from another spec — a node that left an
// edited constraint — brings in its whole service: the rollout that replaces it is paced over every slot.

import { isDeepStrictEqual } from 'node:util';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { type ReadTx, type StoreEvent, slotKey } from '../store/index.js';

export interface Scope {
  /** Services reconciled whole (also ids of services that no longer exist: their tasks are cleaned up). */
  readonly services: ReadonlySet<string>;
  /** Slots of replicated services reconciled one by one, by service id. */
  readonly slots: ReadonlyMap<string, ReadonlySet<number>>;
  /** Nodes whose network attachments may have to change. */
  readonly nodes: ReadonlySet<string>;
  /** Nodes that changed themselves: what runs on them is looked at (scopeIn). */
  readonly changedNodes: ReadonlySet<string>;
  /** Tasks of no service (network attachments of plain containers) that changed, by id. */
  readonly loose: ReadonlySet<string>;
  /** Tasks of services that changed, by id (those that may wait for an allocation). */
  readonly tasks: ReadonlySet<string>;
}

/** Whether a node's change can change what the orchestrator decides for the tasks and services on it. */
function nodeMatters(e: Extract<StoreEvent, { table: 'node' }>): boolean {
  const a = e.previous;
  const b = e.object;
  if (e.kind !== 'update' || !a) return true;
  return (
    a.status?.state !== b.status?.state ||
    a.role !== b.role ||
    !isDeepStrictEqual(a.spec, b.spec) ||
    !isDeepStrictEqual(a.description, b.description)
  );
}

const isWanted = (t: Task): boolean => t.desiredState < TaskState.TASK_STATE_REMOVE;

function addSlot(slots: Map<string, Set<number>>, serviceId: string, slot: number): void {
  const set = slots.get(serviceId);
  if (set) set.add(slot);
  else slots.set(serviceId, new Set([slot]));
}

/** The scope of `events` as a pass needs it (changed nodes made into the tasks on them), or undefined: all. */
export function scopeIn(view: ReadTx, events: readonly StoreEvent[]): Scope | undefined {
  const found = scopeOf(events);
  if (!found) return undefined;
  const { emptied, ...scope } = found;
  if (scope.changedNodes.size === 0 && emptied.size === 0) return scope;
  const services = new Set(scope.services);
  const slots = new Map([...scope.slots].map(([id, s]) => [id, new Set(s)]));
  // A task removed while still wanted (history trimmed, a task deleted behind our back): its slot alone while
  // another wanted task keeps the slot in use, else the whole service (a slot no longer in use is found, and
  // filled again, only by counting the service's slots).
  for (const [serviceId, removed] of emptied)
    for (const slot of removed)
      if (view.findUnordered('task', 'slot', slotKey(serviceId, slot)).some(isWanted))
        addSlot(slots, serviceId, slot);
      else services.add(serviceId);
  if (scope.changedNodes.size === 0) return { ...scope, services, slots };
  for (const s of view.list('service')) if (s.spec?.mode?.$case === 'global') services.add(s.id);
  for (const id of scope.changedNodes)
    for (const t of view.findUnordered('task', 'node', id)) {
      if (!t.serviceId) continue; // an attachment: the orchestrator's business only once its node is gone
      if (t.slot <= 0) services.add(t.serviceId);
      else addSlot(slots, t.serviceId, t.slot);
    }
  return { ...scope, services, slots };
}

/**
 * The scope of `events`, or undefined when they call for a full pass; `emptied`: the slots of tasks removed
 * while still wanted (desired below REMOVE), by service, for scopeIn to look at.
 */
function scopeOf(events: readonly StoreEvent[]): (Scope & { emptied: Map<string, Set<number>> }) | undefined {
  const emptied = new Map<string, Set<number>>();
  const services = new Set<string>();
  const slots = new Map<string, Set<number>>();
  const nodes = new Set<string>();
  const changedNodes = new Set<string>();
  const loose = new Set<string>();
  const tasks = new Set<string>();
  for (const e of events) {
    if (e.table === 'service') {
      services.add(e.object.id);
      continue;
    }
    if (e.table === 'node') {
      if (nodeMatters(e)) {
        changedNodes.add(e.object.id);
        nodes.add(e.object.id);
      } else if (!isDeepStrictEqual(e.previous?.attachments, e.object.attachments)) nodes.add(e.object.id);
      continue;
    }
    if (e.table !== 'task') return undefined;
    const t = e.object;
    const was = e.previous;
    // A node's attachments follow the networks of its tasks: a task with none changes none.
    if (t.nodeId && t.networks.length > 0) nodes.add(t.nodeId);
    if (was?.nodeId && was.networks.length > 0) nodes.add(was.nodeId);
    if (!t.serviceId) {
      loose.add(t.id);
      continue;
    }
    tasks.add(t.id);
    if (t.slot <= 0) {
      services.add(t.serviceId);
      continue;
    }
    addSlot(e.kind === 'remove' && isWanted(t) ? emptied : slots, t.serviceId, t.slot);
  }
  return { services, slots, nodes, changedNodes, loose, tasks, emptied };
}

/**
 * The tasks that may have come to wait for an allocation since the last pass (for the allocator): those
 * that changed, and every task of a service that changed (its endpoint or networks may have).
 */
export function tasksInScope(view: ReadTx, scope: Scope): Task[] {
  const out: Task[] = [];
  for (const id of [...scope.loose, ...scope.tasks]) {
    const t = view.get('task', id);
    if (t && !scope.services.has(t.serviceId)) out.push(t);
  }
  // One by one: spreading a service's 100,000 tasks into push's arguments overflows the stack.
  for (const id of scope.services) for (const t of view.findUnordered('task', 'service', id)) out.push(t);
  return out;
}
