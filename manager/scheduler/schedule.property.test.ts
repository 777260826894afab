// Properties of the scheduler over random clusters and services (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability, NodeRole, NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { nodeMatches, parseConstraints } from './constraint.js';
import { nodeReady } from './filters.js';
import { activeOnNode, holdsNode, hostPortsOf, reservationsOf } from './nodeinfo.js';
import { scheduleTasks } from './schedule.js';
import { node, running, task } from './testkit.js';

const MB = 2 ** 20;

type Drawn<A> = A extends fc.Arbitrary<infer T> ? T : never;

const arbNode = fc.record({
  nanoCpus: fc.constantFrom(0, 1e9, 2e9, 4e9),
  memoryBytes: fc.constantFrom(0, 512 * MB, 2048 * MB),
  zone: fc.constantFrom('a', 'b', ''),
  role: fc.constantFrom(NodeRole.NODE_ROLE_WORKER, NodeRole.NODE_ROLE_MANAGER),
  availability: fc.constantFrom(
    NodeAvailability.NODE_AVAILABILITY_ACTIVE,
    NodeAvailability.NODE_AVAILABILITY_ACTIVE,
    NodeAvailability.NODE_AVAILABILITY_PAUSE,
    NodeAvailability.NODE_AVAILABILITY_DRAIN,
  ),
  state: fc.constantFrom(
    NodeState.NODE_STATE_READY,
    NodeState.NODE_STATE_READY,
    NodeState.NODE_STATE_READY,
    NodeState.NODE_STATE_DOWN,
    NodeState.NODE_STATE_UNKNOWN,
  ),
});

const arbService = fc.record({
  replicas: fc.integer({ min: 1, max: 12 }),
  nanoCpus: fc.constantFrom(0, 0, 5e8, 1e9),
  memoryBytes: fc.constantFrom(0, 0, 256 * MB),
  constraints: fc.subarray([
    'node.labels.zone==a',
    'node.role!=manager',
    'node.role==manager',
    'node.labels.zone!=b',
  ]),
  maxReplicas: fc.constantFrom(0, 0, 1, 2),
  hostPort: fc.constantFrom(0, 0, 8080, 9090),
  spread: fc.boolean(),
});

const arbCluster = fc.record({
  nodes: fc.array(arbNode, { minLength: 0, maxLength: 7 }),
  services: fc.array(arbService, { minLength: 1, maxLength: 3 }),
  // existing running tasks: [node index, service index, state]
  existing: fc.array(
    fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_FAILED)),
    { maxLength: 8 },
  ),
});

function build(c: Drawn<typeof arbCluster>): { nodes: Node[]; tasks: Task[] } {
  const nodes = c.nodes.map((n, i) =>
    node(`n${i}`, {
      nanoCpus: n.nanoCpus,
      memoryBytes: n.memoryBytes,
      labels: n.zone ? { zone: n.zone } : {},
      role: n.role,
      availability: n.availability,
      state: n.state,
    }),
  );
  const opts = (s: Drawn<typeof arbService>) => ({
    nanoCpus: s.nanoCpus,
    memoryBytes: s.memoryBytes,
    constraints: s.constraints,
    maxReplicas: s.maxReplicas,
    hostPorts: s.hostPort ? [s.hostPort] : undefined,
    preferences: s.spread ? ['node.labels.zone'] : [],
  });
  const tasks: Task[] = [];
  c.existing.forEach(([ni, si, state], i) => {
    if (nodes.length === 0) return;
    const s = c.services[si % c.services.length];
    // Existing tasks are free of reservations and ports so the starting state is valid whatever was drawn.
    tasks.push(
      running(`e${i}`, `s${si % c.services.length}`, 100 + i, `n${ni % nodes.length}`, {
        ...opts(s),
        nanoCpus: 0,
        memoryBytes: 0,
        hostPorts: undefined,
        state,
      }),
    );
  });
  c.services.forEach((s, si) => {
    for (let r = 1; r <= s.replicas; r++) tasks.push(task(`s${si}-t${r}`, `s${si}`, r, opts(s)));
  });
  return { nodes, tasks };
}

/** The store after the decisions: every task, updated ones replaced. */
function applied(tasks: Task[], updates: Task[]): Task[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const u of updates) byId.set(u.id, u);
  return [...byId.values()];
}

describe('schedule properties', () => {
  it('never overcommits, honours constraints, max replicas, host ports and readiness; leaves pending only what fits nowhere', () => {
    fc.assert(
      fc.property(arbCluster, (c) => {
        const { nodes, tasks } = build(c);
        const { updates } = scheduleTasks(nodes, tasks, 1000);
        const final = applied(tasks, updates);
        const assigned = updates.filter((t) => t.status?.state === TaskState.TASK_STATE_ASSIGNED);
        const byNode = new Map(nodes.map((n) => [n.id, n]));
        for (const t of assigned) {
          const n = byNode.get(t.nodeId);
          expect(n).toBeDefined();
          expect(nodeReady(n as Node)).toBe(true);
          expect(nodeMatches(parseConstraints(t.spec?.placement?.constraints ?? []), n as Node)).toBe(true);
        }
        for (const n of nodes) {
          const holding = final.filter((t) => t.nodeId === n.id && holdsNode(t));
          const fresh = assigned.filter((t) => t.nodeId === n.id);
          if (fresh.length === 0) continue;
          const sum = (ts: Task[], k: 'nanoCpus' | 'memoryBytes') =>
            ts.reduce((a, t) => a + reservationsOf(t)[k], 0);
          for (const k of ['nanoCpus', 'memoryBytes'] as const) {
            if (sum(fresh, k) > 0)
              expect(sum(holding, k)).toBeLessThanOrEqual(n.description?.resources?.[k] ?? 0);
          }
          const ports = holding.flatMap(hostPortsOf);
          expect(new Set(ports).size).toBe(ports.length);
          for (const t of fresh) {
            const max = t.spec?.placement?.maxReplicas ?? 0;
            if (max > 0) {
              const here = final.filter(
                (x) => x.nodeId === n.id && x.serviceId === t.serviceId && activeOnNode(x),
              );
              expect(here.length).toBeLessThanOrEqual(max);
            }
          }
        }
        // A task still pending has no node that could take it now: scheduling again places nothing.
        const again = scheduleTasks(nodes, final, 2000).updates;
        expect(again.filter((t) => t.status?.state === TaskState.TASK_STATE_ASSIGNED)).toEqual([]);
        // ...and settles: an explanation may change once (a later task of the pass used the room this one
        // was refused for another reason), then nothing is rewritten.
        expect(scheduleTasks(nodes, applied(final, again), 3000).updates).toEqual([]);
        for (const t of final.filter((x) => x.status?.state === TaskState.TASK_STATE_PENDING)) {
          expect(t.status?.err).toMatch(/^no suitable node/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('spreads evenly over equal unconstrained nodes (counts differ by at most 1), whatever ran before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.nat(8), { maxLength: 10 }),
        (nodeCount, replicas, otherTasks) => {
          const nodes = Array.from({ length: nodeCount }, (_, i) => node(`n${i}`));
          const others = otherTasks.map((ni, i) => running(`o${i}`, 'other', i + 1, `n${ni % nodeCount}`));
          const tasks = Array.from({ length: replicas }, (_, i) => task(`t${i}`, 'web', i + 1));
          const { updates } = scheduleTasks(nodes, [...others, ...tasks], 1);
          expect(updates.every((t) => t.status?.state === TaskState.TASK_STATE_ASSIGNED)).toBe(true);
          const counts = nodes.map((n) => updates.filter((t) => t.nodeId === n.id).length);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with a spread preference, label values get counts within 1 of each other (when every value has room)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', ''), { minLength: 1, maxLength: 9 }),
        fc.integer({ min: 1, max: 40 }),
        (zones, replicas) => {
          const nodes = zones.map((z, i) => node(`n${i}`, { labels: z ? { zone: z } : {} }));
          const tasks = Array.from({ length: replicas }, (_, i) =>
            task(`t${i}`, 'web', i + 1, { preferences: ['node.labels.zone'] }),
          );
          const { updates } = scheduleTasks(nodes, tasks, 1);
          const zoneOf = new Map(zones.map((z, i) => [`n${i}`, z]));
          const perZone = new Map<string, number>();
          for (const z of new Set(zones)) perZone.set(z, 0);
          for (const t of updates)
            perZone.set(zoneOf.get(t.nodeId) ?? '?', (perZone.get(zoneOf.get(t.nodeId) ?? '?') ?? 0) + 1);
          const c = [...perZone.values()];
          expect(updates).toHaveLength(replicas);
          expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
          // inside a zone, nodes are balanced too
          for (const z of new Set(zones)) {
            const inZone = nodes
              .filter((n) => zoneOf.get(n.id) === z)
              .map((n) => updates.filter((t) => t.nodeId === n.id).length);
            expect(Math.max(...inZone) - Math.min(...inZone)).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is deterministic: shuffled input, same decisions', () => {
    fc.assert(
      fc.property(arbCluster, fc.integer(), (c, seed) => {
        const { nodes, tasks } = build(c);
        const shuffle = <T>(xs: T[]) => {
          const a = [...xs];
          let s = seed;
          for (let i = a.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) & 0x7fffffff;
            const j = s % (i + 1);
            [a[i], a[j]] = [a[j], a[i]];
          }
          return a;
        };
        const key = (ts: Task[]) => ts.map((t) => `${t.id}@${t.nodeId}:${t.status?.err}`).sort();
        expect(key(scheduleTasks(shuffle(nodes), shuffle(tasks), 5).updates)).toEqual(
          key(scheduleTasks(nodes, tasks, 5).updates),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('places exactly as a look at every node would (the heap of candidates is only faster)', () => {
    fc.assert(
      fc.property(arbCluster, (c) => {
        const { nodes, tasks } = build(c);
        expect(scheduleTasks(nodes, tasks, 1000)).toEqual(scheduleTasks(nodes, tasks, 1000, { heap: false }));
      }),
      { numRuns: 500 },
    );
  });
});
