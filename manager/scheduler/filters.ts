// The filters a node must pass to take a task, in swarmkit's order, and the "no suitable node (…)" explanation
// built from how many nodes each filter turned away (the first failing filter per node counts).
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability, NodeState, type Platform } from '../../proto/gen/shoal/swarm/v1/types.js';
import { type Constraint, nodeMatches } from './constraint.js';
import { hostPortsOf, type NodeInfo, reservationsOf } from './nodeinfo.js';

/** What one task asks of a node, computed once per task. */
export interface TaskNeeds {
  serviceId: string;
  nanoCpus: number;
  memoryBytes: number;
  constraints: Constraint[];
  platforms: Platform[];
  hostPorts: string[];
  /** 0: unlimited. */
  maxReplicas: number;
}

export function needsOf(t: Task, constraints: Constraint[]): TaskNeeds {
  const placement = t.spec?.placement;
  return {
    serviceId: t.serviceId,
    ...reservationsOf(t),
    constraints,
    platforms: placement?.platforms ?? [],
    hostPorts: hostPortsOf(t),
    maxReplicas: placement?.maxReplicas ?? 0,
  };
}

/** Ready for new tasks: the node's session is up and it is not paused or drained. */
export const nodeReady = (n: Node): boolean =>
  n.status?.state === NodeState.NODE_STATE_READY &&
  n.spec?.availability === NodeAvailability.NODE_AVAILABILITY_ACTIVE;

interface Filter {
  /** Whether the filter applies to the task at all. */
  enabled(need: TaskNeeds): boolean;
  check(need: TaskNeeds, info: NodeInfo): boolean;
  explain(nodes: number): string;
}

const onNodes = (what: string) => (n: number) => `${what} on ${n} node${n === 1 ? '' : 's'}`;

const normArch = (a: string) => (a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a);

export const FILTERS: readonly Filter[] = [
  {
    enabled: () => true,
    check: (_, i) => nodeReady(i.node),
    explain: (n) => `${n} node${n === 1 ? '' : 's'} not available for new tasks`,
  },
  {
    enabled: (t) => t.nanoCpus > 0 || t.memoryBytes > 0,
    check: (t, i) => t.nanoCpus <= i.nanoCpus && t.memoryBytes <= i.memoryBytes,
    explain: onNodes('insufficient resources'),
  },
  {
    enabled: (t) => t.constraints.length > 0,
    check: (t, i) => nodeMatches(t.constraints, i.node),
    explain: onNodes('scheduling constraints not satisfied'),
  },
  {
    enabled: (t) => t.platforms.length > 0,
    check: (t, i) => {
      const p = i.node.description?.platform;
      if (!p) return false;
      return t.platforms.some(
        (want) =>
          (want.architecture === '' || normArch(want.architecture) === normArch(p.architecture)) &&
          (want.os === '' || want.os === p.os),
      );
    },
    explain: onNodes('unsupported platform'),
  },
  {
    enabled: (t) => t.hostPorts.length > 0,
    check: (t, i) => t.hostPorts.every((p) => !i.hostPorts.has(p)),
    explain: onNodes('host-mode port already in use'),
  },
  {
    enabled: (t) => t.maxReplicas > 0,
    check: (t, i) => (i.byService.get(t.serviceId) ?? 0) < t.maxReplicas,
    explain: () => 'max replicas per node limit exceed',
  },
];

/** Indexes of the filters that apply to a task (compute once per task, check many nodes). */
export const enabledFilters = (need: TaskNeeds): number[] =>
  FILTERS.flatMap((f, i) => (f.enabled(need) ? [i] : []));

/** Index of the first filter the node fails, -1 if it passes them all. */
export function firstFailure(need: TaskNeeds, info: NodeInfo, enabled = enabledFilters(need)): number {
  for (const i of enabled) if (!FILTERS[i].check(need, info)) return i;
  return -1;
}

/** swarmkit's wording: filters by failure count, most first (ties in filter order), joined with "; ". */
export function explain(failures: readonly number[]): string {
  const parts = failures
    .map((count, i) => ({ count, i }))
    .filter((x) => x.count > 0)
    .sort((a, b) => b.count - a.count || a.i - b.i)
    .map((x) => FILTERS[x.i].explain(x.count));
  return parts.length ? `no suitable node (${parts.join('; ')})` : 'no suitable node';
}
