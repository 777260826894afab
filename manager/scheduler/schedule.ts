// The scheduler's decision: which node each pending task goes to. A pure function of the nodes and tasks of a
// store view and the time, so it is tested without a store, network or clock.
//
// Tasks waiting here are PENDING (the allocator is done with them) and desired READY or RUNNING: a task the
// orchestrator holds at READY (a stop-first update waiting for the old task to stop, a delayed restart) is
// placed at once, so its node prepares it meanwhile and only has to start it (swarmkit does the same). Those without a node
// get the best node that passes every filter; those the orchestrator already bound to a node (global services)
// are only checked against that node. Best means, in order: the placement preferences' branches holding the
// fewest tasks of the service (spread over node.labels.X, level by level), then the node with the fewest tasks
// of the service, then the fewest tasks overall, then workers before managers and the raft leader last (the
// managers' own work — raft, the store, every loop here — runs there), then the smallest node id (so the result
// is deterministic).
// The tasks of one service are placed in one pass, each assignment counted before the next, so 30 replicas
// spread evenly at once. A task no node can take stays PENDING with swarmkit's "no suitable node (…)" in err.

import { compareText } from '../../common/compare.js';
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { type Decisions, emptyDecisions } from '../orchestrator/decisions.js';
import type { ReadTx } from '../store/index.js';
import { type Constraint, nodeAttribute, parseConstraints } from './constraint.js';
import { dependencyGate } from './dependencies.js';
import { enabledFilters, explain, FILTERS, firstFailure, needsOf, type TaskNeeds } from './filters.js';
import type { NodeLedger } from './ledger.js';
import { addTask, buildNodeInfos, type NodeInfo } from './nodeinfo.js';

export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';

export interface SchedulerDecisions {
  /** Changed copies of tasks (with the version they were read at): ASSIGNED ones, and pending ones whose err changed. */
  updates: Task[];
  /** Schedulable tasks left PENDING (no suitable node, or waiting for dependencies). */
  unplaced: number;
}

/**
 * One pass over a store view. With a ledger (kept current from the store's events: the scheduler loop's), only
 * the waiting tasks are read; without one, every node and task of the view.
 */
export function schedule(view: ReadTx, now: number, ledger?: NodeLedger): SchedulerDecisions {
  if (!ledger)
    return scheduleTasks(view.list('node'), view.list('task'), now, { waitFor: dependencyWait(view) });
  const { decisions, unplaced } = scheduleWithin(view, now, ledger, emptyDecisions());
  return { updates: decisions.updates, unplaced };
}

/** depends_on over the view's services and tasks (dependencies.ts). */
const dependencyWait = (view: ReadTx) =>
  dependencyGate(view.list('service'), (serviceId) => view.findUnordered('task', 'service', serviceId));

/**
 * Placement inside another pass (the orchestrator's, see manager/allocator/runner.ts): what that pass's
 * decisions leave schedulable — its creations, its updates, and the ledger's pending tasks as those decisions
 * leave them — placed on the ledger's figures, so a new task is created ASSIGNED in the same transaction
 * (one raft write fewer per task than a separate scheduler pass). Tasks the decisions remove are left out.
 */
export function scheduleWithin(
  view: ReadTx,
  now: number,
  ledger: NodeLedger,
  d: Decisions,
): { decisions: Decisions; unplaced: number } {
  const removed = new Set(d.removes.map((t) => t.id));
  const updated = new Map(d.updates.map((t) => [t.id, t]));
  const waiting = ledger.pending();
  const candidates: Task[] = [];
  for (const id of waiting) {
    if (removed.has(id)) continue;
    const t = updated.get(id) ?? view.get('task', id);
    if (!t) throw new Error(`scheduler ledger: pending task ${id} is not in the store`);
    if (isSchedulable(t)) candidates.push(t);
  }
  const known = new Set(waiting);
  for (const t of d.updates) if (!known.has(t.id) && isSchedulable(t)) candidates.push(t);
  for (const t of d.creates) if (isSchedulable(t)) candidates.push(t);
  // Most passes follow status reports and find nothing to place: no need to copy every node's figures.
  if (candidates.length === 0) return { decisions: d, unplaced: 0 };

  const placed = placeTasks(ledger.infos(), candidates, now, { waitFor: dependencyWait(view) });
  if (placed.updates.length === 0) return { decisions: d, unplaced: placed.unplaced };
  const creates = new Map(d.creates.map((t) => [t.id, t]));
  for (const t of placed.updates) {
    if (creates.has(t.id)) creates.set(t.id, t);
    else updated.set(t.id, t);
  }
  return {
    decisions: { ...d, creates: [...creates.values()], updates: [...updated.values()] },
    unplaced: placed.unplaced,
  };
}

/** A task the scheduler should act on. */
export const isSchedulable = (t: Task): boolean =>
  t.status?.state === TaskState.TASK_STATE_PENDING &&
  (t.desiredState === TaskState.TASK_STATE_READY || t.desiredState === TaskState.TASK_STATE_RUNNING);

export interface ScheduleOptions {
  /**
   * Place tasks without placement preferences through a heap of candidate nodes per service and needs
   * (default true): O(log nodes) a task instead of a look at every node. The result is the same as the
   * scan's (the property tests compare them); false forces the scan for every task.
   */
  heap?: boolean;
  /** depends_on: why a task must stay pending for now (undefined: it may be placed). */
  waitFor?: (t: Task) => string | undefined;
}

export function scheduleTasks(
  nodes: readonly Node[],
  tasks: readonly Task[],
  now: number,
  options: ScheduleOptions = {},
): SchedulerDecisions {
  const schedulable = tasks.filter(isSchedulable);
  // Most passes follow status reports and find nothing to place: no need to count every node's tasks.
  if (schedulable.length === 0) return { updates: [], unplaced: 0 };
  return placeTasks(buildNodeInfos(nodes, tasks), schedulable, now, options);
}

/** Places `schedulable` (tasks isSchedulable accepts) on the nodes of `infos`, whose figures it updates. */
function placeTasks(
  infos: Map<string, NodeInfo>,
  schedulable: Task[],
  now: number,
  options: ScheduleOptions,
): SchedulerDecisions {
  const ordered = [...infos.values()].sort((a, b) => byDuty(a.node, b.node));
  const pending = schedulable.sort(
    (a, b) =>
      compareText(a.serviceId, b.serviceId) ||
      a.slot - b.slot ||
      compareText(a.nodeId, b.nodeId) ||
      compareText(a.id, b.id),
  );
  const updates: Task[] = [];
  const spreads = new Map<string, Spread>();
  const candidates = new Map<string, Candidates>();
  const useHeap = options.heap ?? true;
  let unplaced = 0;
  const stay = (t: Task, why: string) => {
    unplaced++;
    const u = stayPending(t, why, now);
    if (u) updates.push(u);
  };

  for (const t of pending) {
    // depends_on: held PENDING, the reason in err (shown by `service ps`), until the dependencies are up.
    const wait = options.waitFor?.(t);
    if (wait) {
      stay(t, wait);
      continue;
    }
    let constraints: Constraint[];
    try {
      constraints = parseConstraints(t.spec?.placement?.constraints ?? []);
    } catch (err) {
      stay(t, `no suitable node (${(err as Error).message})`);
      continue;
    }
    const need = needsOf(t, constraints);
    const failures = FILTERS.map(() => 0);
    let chosen: NodeInfo | undefined;

    if (t.nodeId !== '') {
      const info = infos.get(t.nodeId);
      const f = info ? firstFailure(need, info) : 0;
      if (info && f < 0) chosen = info;
      else failures[f]++;
    } else {
      const spread = spreadFor(spreads, t, infos);
      const enabled = enabledFilters(need);
      if (useHeap && spread.flat) {
        const key = `${t.serviceId}\0${needsKey(need)}`;
        let c = candidates.get(key);
        if (!c) {
          c = new Candidates(t.serviceId, need, enabled, ordered);
          candidates.set(key, c);
        }
        chosen = c.best();
      }
      // No candidate left (or placement preferences): every node is looked at, which also counts why
      // each one was turned away for the task's "no suitable node (…)".
      if (!chosen) {
        let bestKey: number[] | undefined;
        for (const info of ordered) {
          const f = firstFailure(need, info, enabled);
          if (f >= 0) {
            failures[f]++;
            continue;
          }
          const key = spread.key(info);
          if (!bestKey || lessThan(key, bestKey)) {
            bestKey = key;
            chosen = info;
          }
        }
      }
      if (chosen) spread.add(chosen);
    }

    if (!chosen) {
      stay(t, explain(failures));
      continue;
    }
    const assigned: Task = {
      ...t,
      nodeId: chosen.node.id,
      status: {
        ...(t.status ?? emptyStatus()),
        state: TaskState.TASK_STATE_ASSIGNED,
        timestamp: now,
        message: ASSIGNED_MESSAGE,
        err: '',
      },
    };
    addTask(chosen, assigned);
    updates.push(assigned);
  }
  return { updates, unplaced };
}

/** 0 for a worker, 1 for a manager, 2 for the raft leader: among equally loaded nodes the lowest goes first. */
const duty = (n: Node): number =>
  n.role !== NodeRole.NODE_ROLE_MANAGER ? 0 : n.managerStatus?.leader ? 2 : 1;

/** The tie-break between equally loaded nodes: workers, then managers, the leader last; then the node id. */
function byDuty(a: Node, b: Node): number {
  return duty(a) - duty(b) || compareText(a.id, b.id);
}

/** What makes two tasks of one service interchangeable to the filters. */
function needsKey(n: TaskNeeds): string {
  return JSON.stringify([n.nanoCpus, n.memoryBytes, n.constraints, n.platforms, n.hostPorts, n.maxReplicas]);
}

/**
 * The nodes that can take tasks of one service with the same needs, best first: a binary heap ordered as the
 * scan orders them (tasks of the service, then tasks overall, then node id). The figures only grow during a
 * pass and a node only stops passing the filters (resources, ports and per-node limits are used up, never
 * freed), so an entry whose figures moved is put back with the new ones when it comes up, and one that no
 * longer passes is dropped for good.
 */
class Candidates {
  private readonly heap: { info: NodeInfo; byService: number; tasks: number }[] = [];

  constructor(
    private readonly serviceId: string,
    private readonly need: TaskNeeds,
    private readonly enabled: number[],
    ordered: readonly NodeInfo[],
  ) {
    for (const info of ordered) if (firstFailure(need, info, enabled) < 0) this.heap.push(this.entry(info));
    // Built bottom-up: O(n).
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** The best node now, left in the heap (the caller assigns to it, which moves its figures). */
  best(): NodeInfo | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      const info = top.info;
      if (firstFailure(this.need, info, this.enabled) >= 0) {
        this.pop();
        continue;
      }
      const now = this.entry(info);
      if (now.byService === top.byService && now.tasks === top.tasks) return info;
      this.heap[0] = now;
      this.down(0);
    }
  }

  private entry(info: NodeInfo) {
    return { info, byService: info.byService.get(this.serviceId) ?? 0, tasks: info.tasks };
  }

  private pop(): void {
    const last = this.heap.pop();
    if (last && this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a];
    const y = this.heap[b];
    if (x.byService !== y.byService) return x.byService < y.byService;
    if (x.tasks !== y.tasks) return x.tasks < y.tasks;
    return byDuty(x.info.node, y.info.node) < 0;
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(l, m)) m = l;
      if (r < h.length && this.less(r, m)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

/** The task with `err` set, or undefined when it already says so (no write, so the loop settles). */
function stayPending(t: Task, err: string, now: number): Task | undefined {
  if (t.status?.err === err) return undefined;
  return { ...t, status: { ...(t.status ?? emptyStatus()), err, timestamp: now } };
}

const emptyStatus = () => ({
  state: TaskState.TASK_STATE_PENDING,
  timestamp: 0,
  message: '',
  err: '',
  containerStatus: undefined,
  portStatus: undefined,
});

/**
 * Counts of one service's tasks per branch of its placement preferences (level i: nodes sharing the first
 * i+1 label values), kept current as the pass assigns. key(node) orders candidates.
 */
class Spread {
  private readonly levels: Map<string, number>[];
  private readonly pathCache = new Map<string, string[]>();

  constructor(
    private readonly serviceId: string,
    private readonly descriptors: string[],
    infos: Map<string, NodeInfo>,
  ) {
    this.levels = descriptors.map(() => new Map());
    for (const info of infos.values()) this.bump(info, info.byService.get(serviceId) ?? 0);
  }

  /** No placement preferences: the key is the node's own figures only. */
  get flat(): boolean {
    return this.descriptors.length === 0;
  }

  key(info: NodeInfo): number[] {
    const k = this.paths(info).map((p, i) => this.levels[i].get(p) ?? 0);
    k.push(info.byService.get(this.serviceId) ?? 0, info.tasks);
    return k;
  }

  /** Call after addTask(info, …) for a task of this service (info's own counts are already updated). */
  add(info: NodeInfo): void {
    this.bump(info, 1);
  }

  private bump(info: NodeInfo, n: number): void {
    if (n === 0) return;
    this.paths(info).forEach((p, i) => {
      this.levels[i].set(p, (this.levels[i].get(p) ?? 0) + n);
    });
  }

  /** The node's branch at each level (cached: label values do not change during a pass). */
  private paths(info: NodeInfo): string[] {
    let p = this.pathCache.get(info.node.id);
    if (!p) {
      let prefix = '';
      p = this.descriptors.map((d) => {
        prefix += `${nodeAttribute(info.node, d) ?? ''}\0`;
        return prefix;
      });
      this.pathCache.set(info.node.id, p);
    }
    return p;
  }
}

function spreadFor(spreads: Map<string, Spread>, t: Task, infos: Map<string, NodeInfo>): Spread {
  const descriptors = (t.spec?.placement?.preferences ?? [])
    .map((p) => p.spread?.spreadDescriptor ?? '')
    .filter((d) => d !== '');
  const key = `${t.serviceId}\0${descriptors.join('\0')}`;
  let s = spreads.get(key);
  if (!s) {
    s = new Spread(t.serviceId, descriptors, infos);
    spreads.set(key, s);
  }
  return s;
}

function lessThan(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}
