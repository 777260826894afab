import { describe, expect, it } from 'vitest';
import { Node, type Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  PortProtocol,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { ASSIGNED_MESSAGE, scheduleTasks } from './schedule.js';
import { node, running, task } from './testkit.js';

const NOW = 1_700_000_000_000;
const GB = 2 ** 30;

/** node id per task id, for the assigned ones. */
const placement = (updates: Task[]) =>
  Object.fromEntries(
    updates.filter((t) => t.status?.state === TaskState.TASK_STATE_ASSIGNED).map((t) => [t.id, t.nodeId]),
  );
const errors = (updates: Task[]) =>
  Object.fromEntries(
    updates.filter((t) => t.status?.state === TaskState.TASK_STATE_PENDING).map((t) => [t.id, t.status?.err]),
  );
const counts = (updates: Task[]) => {
  const c: Record<string, number> = {};
  for (const nodeId of Object.values(placement(updates))) c[nodeId] = (c[nodeId] ?? 0) + 1;
  return c;
};
const tasks = (n: number, service = 's1', o = {}) =>
  Array.from({ length: n }, (_, i) => task(`t${String(i + 1).padStart(2, '0')}`, service, i + 1, o));

describe('schedule', () => {
  it('assigns a pending task: ASSIGNED, node set, docker message, err cleared, version kept', () => {
    const t = task('t1', 's1', 1, { err: 'no suitable node', version: 7 });
    const { updates } = scheduleTasks([node('a')], [t], NOW);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      id: 't1',
      nodeId: 'a',
      meta: { version: 7 },
      status: { state: TaskState.TASK_STATE_ASSIGNED, message: ASSIGNED_MESSAGE, err: '', timestamp: NOW },
    });
  });

  it('places 30 replicas evenly in one pass, ties broken by node id', () => {
    const nodes = ['c', 'a', 'b'].map((id) => node(id));
    const { updates } = scheduleTasks(nodes, tasks(30), NOW);
    expect(counts(updates)).toEqual({ a: 10, b: 10, c: 10 });
    expect(placement(scheduleTasks(nodes, tasks(2), NOW).updates)).toEqual({ t01: 'a', t02: 'b' });
  });

  it('between equally loaded nodes, workers first, then managers, the raft leader last', () => {
    const manager = { role: NodeRole.NODE_ROLE_MANAGER };
    const leader = Node.fromPartial({ ...node('a', manager), managerStatus: { leader: true } });
    const nodes = [leader, node('b', manager), node('c'), node('d')];
    for (const heap of [true, false]) {
      const at = (n: number) => placement(scheduleTasks(nodes, tasks(n), NOW, { heap }).updates);
      expect(at(2)).toEqual({ t01: 'c', t02: 'd' });
      expect(at(4)).toEqual({ t01: 'c', t02: 'd', t03: 'b', t04: 'a' });
      // Load comes first: the leader gets the fifth task only after every node has one.
      expect(counts(scheduleTasks(nodes, tasks(8), NOW, { heap }).updates)).toEqual({
        a: 2,
        b: 2,
        c: 2,
        d: 2,
      });
    }
  });

  it('spreads by tasks of the service first, then by all tasks', () => {
    const nodes = ['a', 'b', 'c'].map((id) => node(id));
    const existing = [
      running('x1', 's1', 1, 'a'),
      running('o1', 'other', 1, 'b'),
      running('o2', 'other', 2, 'b'),
    ];
    const { updates } = scheduleTasks(nodes, [...existing, task('n1', 's1', 2), task('n2', 's1', 3)], NOW);
    // c has nothing, b has two tasks of another service but none of s1: c then b; a already has one of s1.
    expect(placement(updates)).toEqual({ n1: 'c', n2: 'b' });
  });

  it('only uses ready, active nodes', () => {
    const nodes = [
      node('down', { state: NodeState.NODE_STATE_DOWN }),
      node('drain', { availability: NodeAvailability.NODE_AVAILABILITY_DRAIN }),
      node('pause', { availability: NodeAvailability.NODE_AVAILABILITY_PAUSE }),
      node('unknown', { state: NodeState.NODE_STATE_UNKNOWN }),
      node('ok'),
    ];
    expect(counts(scheduleTasks(nodes, tasks(4), NOW).updates)).toEqual({ ok: 4 });
    const { updates } = scheduleTasks(nodes.slice(0, 4), tasks(1), NOW);
    expect(errors(updates)).toEqual({ t01: 'no suitable node (4 nodes not available for new tasks)' });
  });

  it('never overcommits reservations, counting tasks already there', () => {
    const nodes = [
      node('a', { nanoCpus: 2e9, memoryBytes: 4 * GB }),
      node('b', { nanoCpus: 1e9, memoryBytes: 4 * GB }),
    ];
    const existing = [running('x', 'other', 1, 'a', { nanoCpus: 1e9 })];
    const { updates } = scheduleTasks(nodes, [...existing, ...tasks(3, 's1', { nanoCpus: 1e9 })], NOW);
    expect(counts(updates)).toEqual({ a: 1, b: 1 });
    expect(errors(updates)).toEqual({ t03: 'no suitable node (insufficient resources on 2 nodes)' });
    const mem = scheduleTasks(nodes, tasks(3, 's1', { memoryBytes: 3 * GB }), NOW).updates;
    expect(counts(mem)).toEqual({ a: 1, b: 1 });
  });

  it('a terminal task frees its reservation; a running one being shut down still holds it', () => {
    const n = [node('a', { nanoCpus: 1e9 })];
    const done = running('x', 'other', 1, 'a', { nanoCpus: 1e9, state: TaskState.TASK_STATE_FAILED });
    expect(counts(scheduleTasks(n, [done, ...tasks(1, 's1', { nanoCpus: 1e9 })], NOW).updates)).toEqual({
      a: 1,
    });
    const stopping = running('x', 'other', 1, 'a', { nanoCpus: 1e9, desired: TaskState.TASK_STATE_SHUTDOWN });
    expect(counts(scheduleTasks(n, [stopping, ...tasks(1, 's1', { nanoCpus: 1e9 })], NOW).updates)).toEqual(
      {},
    );
  });

  it('honours constraints and explains in docker words, most failures first', () => {
    const nodes = [
      node('a', { labels: { zone: 'x' }, nanoCpus: 1e9 }),
      node('b', { labels: { zone: 'y' } }),
      node('c', { labels: { zone: 'y' } }),
      node('d', { labels: { zone: 'y' } }),
      node('e', { labels: { zone: 'x' }, nanoCpus: 1e9 }),
    ];
    const t = tasks(1, 's1', { constraints: ['node.labels.zone==x'], nanoCpus: 2e9 });
    expect(errors(scheduleTasks(nodes, t, NOW).updates)).toEqual({
      t01: 'no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 2 nodes)',
    });
    const ok = scheduleTasks(nodes, tasks(4, 's1', { constraints: ['node.labels.zone==x'] }), NOW).updates;
    expect(counts(ok)).toEqual({ a: 2, e: 2 });
  });

  it('a constraint no node can meet, or an unparsable one, leaves the task pending with a clear err', () => {
    const nodes = [node('a'), node('b')];
    const never = scheduleTasks(nodes, tasks(1, 's1', { constraints: ['node.colour==red'] }), NOW).updates;
    expect(errors(never)).toEqual({
      t01: 'no suitable node (scheduling constraints not satisfied on 2 nodes)',
    });
    const bad = scheduleTasks(nodes, tasks(1, 's1', { constraints: ['node.role=manager'] }), NOW).updates;
    expect(errors(bad).t01).toMatch(/^no suitable node \(placement\.constraints\[0\]: .*no operator/);
  });

  it('no nodes at all: plain "no suitable node"; an unchanged err is not rewritten', () => {
    const first = scheduleTasks([], tasks(1), NOW).updates;
    expect(errors(first)).toEqual({ t01: 'no suitable node' });
    expect(scheduleTasks([], first, NOW + 1).updates).toEqual([]);
  });

  it('keeps host-mode published ports unique per node and protocol', () => {
    const nodes = [node('a'), node('b')];
    const existing = [running('x', 'other', 1, 'a', { hostPorts: [8080] })];
    const { updates } = scheduleTasks(nodes, [...existing, ...tasks(2, 's1', { hostPorts: [8080] })], NOW);
    expect(counts(updates)).toEqual({ b: 1 });
    expect(errors(updates)).toEqual({ t02: 'no suitable node (host-mode port already in use on 2 nodes)' });
    // another port is no clash
    const udp = task('u1', 's2', 1, { hostPorts: [8080] });
    udp.endpoint!.ports[0].protocol = PortProtocol.PORT_PROTOCOL_UDP;
    expect(counts(scheduleTasks([nodes[0]], [...existing, udp], NOW).updates)).toEqual({ a: 1 });
    const other = scheduleTasks(
      [nodes[0]],
      [...existing, ...tasks(1, 's1', { hostPorts: [9090] })],
      NOW,
    ).updates;
    expect(counts(other)).toEqual({ a: 1 });
  });

  it('honours max replicas per node', () => {
    const nodes = [node('a'), node('b')];
    const { updates } = scheduleTasks(nodes, tasks(5, 's1', { maxReplicas: 2 }), NOW);
    expect(counts(updates)).toEqual({ a: 2, b: 2 });
    expect(errors(updates)).toEqual({ t05: 'no suitable node (max replicas per node limit exceed)' });
  });

  it('spread preferences balance over label values first, then nodes inside each', () => {
    const nodes = [
      node('a1', { labels: { zone: 'a' } }),
      node('a2', { labels: { zone: 'a' } }),
      node('a3', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
    ];
    const { updates } = scheduleTasks(nodes, tasks(8, 's1', { preferences: ['node.labels.zone'] }), NOW);
    // zone b gets half the tasks although it has one node of four
    expect(counts(updates)).toEqual({ a1: 2, a2: 1, a3: 1, b1: 4 });
  });

  it('two-level preferences and nodes without the label as their own branch', () => {
    const nodes = [
      node('n1', { labels: { dc: 'east', rack: 'r1' } }),
      node('n2', { labels: { dc: 'east', rack: 'r2' } }),
      node('n3', { labels: { dc: 'west', rack: 'r1' } }),
      node('n4', {}),
    ];
    const prefs = ['node.labels.dc', 'node.labels.rack'];
    const { updates } = scheduleTasks(nodes, tasks(6, 's1', { preferences: prefs }), NOW);
    // three dc branches (east, west, none) get 2 each; east splits over its two racks
    expect(counts(updates)).toEqual({ n1: 1, n2: 1, n3: 2, n4: 2 });
  });

  it('checks a task bound to a node (global) against that node only', () => {
    const nodes = [node('a'), node('b', { availability: NodeAvailability.NODE_AVAILABILITY_PAUSE })];
    const ok = task('g1', 'g', 0, { nodeId: 'a' });
    const paused = task('g2', 'g', 0, { nodeId: 'b' });
    const gone = task('g3', 'g', 0, { nodeId: 'zz' });
    const { updates } = scheduleTasks(nodes, [ok, paused, gone], NOW);
    expect(placement(updates)).toEqual({ g1: 'a' });
    expect(errors(updates)).toEqual({
      g2: 'no suitable node (1 node not available for new tasks)',
      g3: 'no suitable node (1 node not available for new tasks)',
    });
  });

  it('ignores tasks that are not pending or not desired ready/running; a READY one is placed ahead', () => {
    const nodes = [node('a')];
    const t = [
      task('new', 's', 1, { state: TaskState.TASK_STATE_NEW }),
      task('ready', 's', 2, { desired: TaskState.TASK_STATE_READY }),
      task('gone', 's', 3, { desired: TaskState.TASK_STATE_REMOVE }),
      task('down', 's', 4, { desired: TaskState.TASK_STATE_SHUTDOWN }),
    ];
    expect(placement(scheduleTasks(nodes, t, NOW).updates)).toEqual({ ready: 'a' });
  });

  it('is deterministic: input order does not matter', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((id) => node(id, { nanoCpus: 3e9 }));
    const t = tasks(10, 's1', { nanoCpus: 1e9 });
    const one = placement(scheduleTasks(nodes, t, NOW).updates);
    const two = placement(scheduleTasks([...nodes].reverse(), [...t].reverse(), NOW).updates);
    expect(two).toEqual(one);
  });
});
