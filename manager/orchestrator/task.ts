// Task helpers shared by the orchestrators: making a task from a service, ordering, states, spec comparison.

import { compareText } from '../../common/compare.js';
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import {
  EndpointSpec,
  NodeAvailability,
  NodeState,
  TaskState,
  UpdateState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import {
  DEFAULT_TASK_HISTORY_RETENTION_LIMIT,
  type ReadTx,
  type StoreEvent,
  slotKey,
} from '../store/index.js';
import { endpointSpecOf, taskTemplate } from './spec.js';

export const CREATED_MESSAGE = 'created';

/** Observed state says the task is over (COMPLETE, SHUTDOWN, FAILED, REJECTED, ORPHANED). */
export const isTerminal = (t: Task): boolean => (t.status?.state ?? 0) >= TaskState.TASK_STATE_COMPLETE;

/**
 * A live task moving on before RUNNING is reached (desired state unchanged and ≤ RUNNING, observed PENDING …
 * STARTING before the event): the two tasks, or undefined for any other event.
 */
function progressOfLiveTask(e: StoreEvent): { a: Task; b: Task; is: number } | undefined {
  if (e.table !== 'task' || e.kind !== 'update' || e.previous === undefined) return undefined;
  const a = e.previous;
  const b = e.object;
  const was = a.status?.state ?? 0;
  if (
    a.desiredState !== b.desiredState ||
    b.desiredState > TaskState.TASK_STATE_RUNNING ||
    was < TaskState.TASK_STATE_PENDING ||
    was >= TaskState.TASK_STATE_RUNNING
  )
    return undefined;
  return { a, b, is: b.status?.state ?? 0 };
}

/**
 * A live task's report between being bound to its node and running (ASSIGNED … STARTING, node and desired
 * state unchanged): no rule of the orchestrator or the allocator turns on it (they look at < ASSIGNED,
 * RUNNING and past RUNNING), so their loops skip it: it is most of a big rollout's events.
 */
export function isStartingReport(e: StoreEvent): boolean {
  const p = progressOfLiveTask(e);
  return (
    p !== undefined &&
    p.a.nodeId === p.b.nodeId &&
    p.is >= TaskState.TASK_STATE_ASSIGNED &&
    p.is < TaskState.TASK_STATE_RUNNING
  );
}

/**
 * A task event no rule of the orchestrator's pass (allocation included) turns on, given the state `view`
 * shows: a starting report; the scheduler binding a task without networks to a node (with networks, the
 * node needs an attachment on them); or a replicated task reaching RUNNING while its service is not
 * updating and nothing else lives in its slot (no start-first handoff waits for it). At 100,000 replicas
 * every one of these events was a pass over every task.
 */
export function isQuietTaskEvent(e: StoreEvent, view: ReadTx): boolean {
  if (isStartingReport(e)) return true;
  const p = progressOfLiveTask(e);
  if (!p) return false;
  const { a, b, is } = p;
  if (is < TaskState.TASK_STATE_RUNNING) return a.nodeId === '' && b.nodeId !== '' && b.networks.length === 0;
  if (is !== TaskState.TASK_STATE_RUNNING || a.nodeId !== b.nodeId || b.slot === 0) return false;
  const updating = view.get('service', b.serviceId)?.updateStatus?.state;
  if (
    updating === UpdateState.UPDATE_STATE_UPDATING ||
    updating === UpdateState.UPDATE_STATE_ROLLBACK_STARTED
  )
    return false;
  for (const t of view.findUnordered('task', 'slot', slotKey(b.serviceId, b.slot)))
    if (t.id !== b.id && isLive(t) && !isTerminal(t)) return false;
  return true;
}

/** Still wanted: desired READY (a delayed restart) or RUNNING. */
export const isLive = (t: Task): boolean => t.desiredState <= TaskState.TASK_STATE_RUNNING;

/** The task ended by itself (as opposed to being stopped on request or never starting). */
export const endedByItself = (t: Task): boolean => {
  const s = t.status?.state;
  return (
    s === TaskState.TASK_STATE_COMPLETE ||
    s === TaskState.TASK_STATE_FAILED ||
    s === TaskState.TASK_STATE_REJECTED
  );
};

/** A node that will not run this task any more: gone, down, or drained (swarmkit's InvalidNode). */
export const nodeLost = (n: Node | undefined): boolean =>
  !n ||
  n.status?.state === NodeState.NODE_STATE_DOWN ||
  n.spec?.availability === NodeAvailability.NODE_AVAILABILITY_DRAIN;

export const createdAt = (t: Task): number => t.meta?.createdAt ?? 0;

/**
 * Oldest first: creation time, then the service version the task was made from (fixed at creation and
 * never decreasing, so a replacement made in the same millisecond as the task it replaces still sorts
 * after it: the store version, which every later write moves, had a stopped old task pass for the newer
 * one and an update complete early), then store version, then id.
 */
export function byAge(a: Task, b: Task): number {
  return (
    createdAt(a) - createdAt(b) ||
    a.serviceVersion - b.serviceVersion ||
    (a.meta?.version ?? 0) - (b.meta?.version ?? 0) ||
    compareText(a.id, b.id)
  );
}

export const newest = (ts: readonly Task[]): Task | undefined => [...ts].sort(byAge).at(-1);

/** Deep equality of two task specs, independent of map key order. */
export function sameEndpointSpec(a: EndpointSpec | undefined, b: EndpointSpec | undefined): boolean {
  return (
    canonical(EndpointSpec.toJSON(a ?? EndpointSpec.fromPartial({}))) ===
    canonical(EndpointSpec.toJSON(b ?? EndpointSpec.fromPartial({})))
  );
}

export function sameSpec(a: TaskSpec | undefined, b: TaskSpec | undefined): boolean {
  return a === b || canonicalSpec(a) === canonicalSpec(b);
}

/**
 * Stored objects are frozen and shared by every view, so a spec's canonical form is worked out once: every
 * pass compares each task's spec with its service's (several times during an update).
 */
const canonicalCache = new WeakMap<TaskSpec, string>();

function canonicalSpec(spec: TaskSpec | undefined): string {
  const frozen = spec !== undefined && Object.isFrozen(spec);
  const hit = frozen ? canonicalCache.get(spec) : undefined;
  if (hit !== undefined) return hit;
  const c = canonical(TaskSpec.toJSON(spec ?? TaskSpec.fromPartial({})));
  if (frozen) canonicalCache.set(spec, c);
  return c;
}

/**
 * Key-sorted JSON where an empty message counts as an absent one: a spec read back through the Engine API
 * and sent again (`service scale`, `service update --replicas`) comes with `Placement: {}`, `Resources:
 * {Limits: {}}`, `DNSConfig: {}` where the stored spec had nothing; that must not make every task dirty.
 */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) return x;
    const kept = Object.entries(x).filter(([, y]) => !isEmptyMessage(y));
    return Object.fromEntries(kept.sort(([p], [q]) => compareText(p, q)));
  });
}

function isEmptyMessage(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  if (!v || typeof v !== 'object') return false;
  return Object.values(v).every((y) => y === undefined || isEmptyMessage(y));
}

/** Old tasks kept per slot (per node for global services); negative: all. */
export function historyLimit(cluster: Cluster | undefined): number {
  const v = cluster?.spec?.orchestration?.taskHistoryRetentionLimit;
  return v === undefined || v === 0 ? DEFAULT_TASK_HISTORY_RETENTION_LIMIT : v;
}

/** A new task of `service` for `slot` (replicated) or `nodeId` (global), NEW, desired `desired`. */
export function newTask(
  service: Service,
  where: { slot: number; nodeId: string },
  id: string,
  now: number,
  desired: TaskState = TaskState.TASK_STATE_RUNNING,
): Task {
  const name = service.spec?.annotations?.name ?? service.id;
  // The stored service's template itself (frozen): the store then keeps one copy for all the tasks made from it.
  const template = taskTemplate(service);
  const spec = template && Object.isFrozen(template) ? template : TaskSpec.fromPartial(template ?? {});
  return {
    id,
    meta: undefined,
    annotations: { name: `${name}.${where.slot > 0 ? where.slot : where.nodeId}.${id}`, labels: {} },
    serviceId: service.id,
    slot: where.slot,
    nodeId: where.nodeId,
    spec,
    serviceVersion: service.meta?.version ?? 0,
    serviceAnnotations: service.spec?.annotations
      ? { name: service.spec.annotations.name, labels: { ...service.spec.annotations.labels } }
      : undefined,
    status: {
      state: TaskState.TASK_STATE_NEW,
      timestamp: now,
      message: CREATED_MESSAGE,
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    },
    desiredState: desired,
    networks: [],
    // The allocator's endpoint when it has run; else the spec alone, so host-mode ports are known to the scheduler.
    endpoint: service.endpoint
      ? structuredClone(service.endpoint)
      : endpointSpecOf(service)
        ? { spec: structuredClone(endpointSpecOf(service)), ports: [], virtualIps: [] }
        : undefined,
    logDriver: spec.logDriver,
    runningSince: 0,
  };
}

export const withDesired = (t: Task, desiredState: TaskState): Task => ({ ...t, desiredState });
