// The scheduler's decision: which node each pending task goes to. A pure function of the nodes and tasks of a
// store view and the time, so it is tested without a store, network or clock.
//
// Tasks waiting here are PENDING (the allocator is done with them) and desired READY or RUNNING: a task the
// orchestrator holds at READY (a stop-first update waiting for the old task to stop, a delayed restart) is
// placed at once, so its node prepares it meanwhile and only has to start it (swarmkit does the same). Those without a node
// get the best node that passes every filter; those the orchestrator already bound to a node (global services)
// are only checked against that node. Best means, in order: the placement preferences' branches holding the
// fewest tasks of the service (spread over node.labels.X, level by level), then the node with the fewest tasks
// of the service, then the fewest tasks overall, then the smallest node id (so the result is deterministic).
// The tasks of one service are placed in one pass, each assignment counted before the next, so 30 replicas
// spread evenly at once. A task no node can take stays PENDING with swarmkit's "no suitable node (…)" in err.
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ReadTx } from '../store/index.js';
import { type Constraint, nodeAttribute, parseConstraints } from './constraint.js';
import { dependencyGate } from './dependencies.js';
import { enabledFilters, explain, FILTERS, firstFailure, needsOf } from './filters.js';
import { addTask, buildNodeInfos, type NodeInfo } from './nodeinfo.js';

export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';

export interface SchedulerDecisions {
  /** Changed copies of tasks (with the version they were read at): ASSIGNED ones, and pending ones whose err changed. */
  updates: Task[];
}

export function schedule(view: ReadTx, now: number): SchedulerDecisions {
  const tasks = view.list('task');
  return scheduleTasks(view.list('node'), tasks, now, dependencyGate(view.list('service'), tasks));
}

/** A task the scheduler should act on. */
export const isSchedulable = (t: Task): boolean =>
  t.status?.state === TaskState.TASK_STATE_PENDING &&
  (t.desiredState === TaskState.TASK_STATE_READY || t.desiredState === TaskState.TASK_STATE_RUNNING);

export function scheduleTasks(
  nodes: readonly Node[],
  tasks: readonly Task[],
  now: number,
  waitFor: (t: Task) => string | undefined = () => undefined,
): SchedulerDecisions {
  const infos = buildNodeInfos(nodes, tasks);
  const ordered = [...infos.values()].sort((a, b) => cmp(a.node.id, b.node.id));
  const pending = tasks
    .filter(isSchedulable)
    .sort(
      (a, b) =>
        cmp(a.serviceId, b.serviceId) || a.slot - b.slot || cmp(a.nodeId, b.nodeId) || cmp(a.id, b.id),
    );
  const updates: Task[] = [];
  const spreads = new Map<string, Spread>();

  for (const t of pending) {
    // depends_on: held PENDING, the reason in err (shown by `service ps`), until the dependencies are up.
    const wait = waitFor(t);
    if (wait) {
      const u = stayPending(t, wait, now);
      if (u) updates.push(u);
      continue;
    }
    let constraints: Constraint[];
    try {
      constraints = parseConstraints(t.spec?.placement?.constraints ?? []);
    } catch (err) {
      const u = stayPending(t, `no suitable node (${(err as Error).message})`, now);
      if (u) updates.push(u);
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
      if (chosen) spread.add(chosen);
    }

    if (!chosen) {
      const u = stayPending(t, explain(failures), now);
      if (u) updates.push(u);
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
  return { updates };
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

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function lessThan(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}
