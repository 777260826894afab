// The orchestrator and the allocator as one loop with the scheduler beside it (tasks are born PENDING with
// their addresses in the orchestrator's own commit), and all three as one (what shoald runs: tasks are born
// ASSIGNED); a new leader's loop (same store, fresh memory) commits nothing.
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { EndpointMode, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { ControlApi, predefinedIngress } from '../controlapi/index.js';
import type { ReconcileLoop } from '../orchestrator/loop.js';
import { harness, service } from '../orchestrator/testkit.js';
import { schedulerLoop } from '../scheduler/runner.js';
import { node } from '../scheduler/testkit.js';
import { makeCluster } from '../store/testkit.js';
import { allocatingOrchestratorLoop, pipelineLoop } from './runner.js';

async function quiet(loops: readonly ReconcileLoop[]) {
  for (let round = 0; round < 50; round++) {
    const before = loops.reduce((n, l) => n + l.passes, 0);
    for (const l of loops) await l.idle();
    if (loops.reduce((n, l) => n + l.passes, 0) === before) return;
  }
  throw new Error('the loops did not go quiet');
}

/** A cluster with ingress, an overlay "appnet", nodes a and b; returns appnet and a 4-replica service on it. */
async function networked(h: ReturnType<typeof harness>) {
  const cluster = makeCluster('c1');
  await h.put('cluster', cluster);
  await h.put('network', predefinedIngress('ingress0', cluster));
  const appnet = await new ControlApi(h.store).createNetwork({
    annotations: { name: 'appnet', labels: {} },
  } as never);
  await h.put('node', node('a'), node('b'));
  const s = service('s1', 'web', { replicas: 4 });
  s.spec!.taskTemplate!.networks = [{ target: 'appnet', aliases: ['w'], driverOpts: {} }];
  return { appnet, s };
}

describe('allocatingOrchestratorLoop', () => {
  it('creates tasks already allocated, in one commit; a new leader’s loop commits nothing', async () => {
    const h = harness();
    const { appnet, s } = await networked(h);
    s.spec!.endpointSpec = { mode: EndpointMode.ENDPOINT_MODE_VIP, ports: [] };
    await h.put('service', s);
    const watch = h.store.watch({ table: 'task', kind: ['create'] });
    const created: Task[] = [];
    void (async () => {
      for await (const e of watch) created.push(e.object as Task);
    })();
    const errors: unknown[] = [];
    const loops = [
      allocatingOrchestratorLoop(h.store, { onError: (e) => errors.push(e) }),
      schedulerLoop(h.store),
    ];
    for (const l of loops) l.start();
    await quiet(loops);
    expect(errors).toEqual([]);
    const tasks = h.live('s1');
    expect(tasks.map((t) => t.status?.state)).toEqual(Array(4).fill(TaskState.TASK_STATE_ASSIGNED));
    expect(new Set(tasks.map((t) => t.networks[0]?.addresses[0])).size).toBe(4);
    expect(
      tasks.every((t) => t.networks[0]?.network?.id === appnet.id && t.networks[0]?.aliases[0] === 'w'),
    ).toBe(true);
    // Every task was born PENDING (allocated in the orchestrator's own commit).
    expect(created.length).toBe(4);
    expect(
      created.every((t) => t.status?.state === TaskState.TASK_STATE_PENDING && t.networks.length === 1),
    ).toBe(true);
    watch.close();
    const nodes = h.store.view((tx) => tx.list('node'));
    expect(nodes.map((n) => n.attachments.map((a) => a.network?.spec?.annotations?.name).sort())).toEqual([
      ['appnet', 'ingress'],
      ['appnet', 'ingress'],
    ]);
    for (const l of loops) await l.stop();
    // A new leader: fresh loops over the same store.
    const next = [allocatingOrchestratorLoop(h.store), schedulerLoop(h.store)];
    for (const l of next) l.start();
    await quiet(next);
    expect(next.map((l) => l.commits)).toEqual([0, 0]);
    for (const l of next) await l.stop();
  });
});

/** Every task create event's state, in order. */
function creations(h: ReturnType<typeof harness>) {
  const watch = h.store.watch({ table: 'task', kind: ['create'] });
  const states: TaskState[] = [];
  void (async () => {
    for await (const e of watch) states.push((e.object as Task).status?.state ?? 0);
  })();
  return { states, close: () => watch.close() };
}

describe('pipelineLoop', () => {
  it('creates tasks already allocated and placed, spread, in one commit; a new leader’s loop commits nothing', async () => {
    const h = harness();
    const { s } = await networked(h);
    await h.put('service', s);
    const created = creations(h);
    const errors: unknown[] = [];
    const loop = pipelineLoop(h.store, { onError: (e) => errors.push(e) });
    loop.start();
    await quiet([loop]);
    expect(errors).toEqual([]);
    const tasks = h.live('s1');
    expect(created.states).toEqual(Array(4).fill(TaskState.TASK_STATE_ASSIGNED));
    expect(tasks.map((t) => t.nodeId).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(new Set(tasks.map((t) => t.networks[0]?.addresses[0])).size).toBe(4);
    // The nodes' own addresses on the network follow in the next pass (it sees the tasks on them).
    const nodes = h.store.view((tx) => tx.list('node'));
    expect(nodes.map((n) => n.attachments.map((a) => a.network?.spec?.annotations?.name).sort())).toEqual([
      ['appnet', 'ingress'],
      ['appnet', 'ingress'],
    ]);
    created.close();
    await loop.stop();
    const next = pipelineLoop(h.store);
    next.start();
    await quiet([next]);
    expect(next.commits).toBe(0);
    await next.stop();
  });

  it('a task no node can take is created PENDING with the reason, and placed once a node can', async () => {
    const h = harness();
    await h.put('cluster', makeCluster('c1'));
    await h.put('node', node('a', { labels: { zone: 'a' } }));
    await h.put('service', service('s1', 'web', { replicas: 2, constraints: ['node.labels.zone==b'] }));
    const created = creations(h);
    const loop = pipelineLoop(h.store);
    loop.start();
    await quiet([loop]);
    expect(created.states).toEqual([TaskState.TASK_STATE_PENDING, TaskState.TASK_STATE_PENDING]);
    expect(h.live('s1').map((t) => t.status?.err)).toEqual(
      Array(2).fill(expect.stringContaining('no suitable node')),
    );
    // A node event wakes the loop while a task waits: the new node takes both.
    await h.put('node', node('b', { labels: { zone: 'b' } }));
    await quiet([loop]);
    expect(h.live('s1').map((t) => [t.nodeId, t.status?.state])).toEqual([
      ['b', TaskState.TASK_STATE_ASSIGNED],
      ['b', TaskState.TASK_STATE_ASSIGNED],
    ]);
    created.close();
    await loop.stop();
  });

  it('places what a scheduler pass would: the same nodes for a larger service on the same store', async () => {
    const run = async (loops: (h: ReturnType<typeof harness>) => ReconcileLoop[]) => {
      const h = harness();
      await h.put('cluster', makeCluster('c1'));
      await h.put('node', node('a'), node('b'), node('c', { nanoCpus: 1e9 }));
      const s = service('s1', 'web', { replicas: 9 });
      s.spec!.taskTemplate!.resources = {
        limits: undefined,
        reservations: { nanoCpus: 5e8, memoryBytes: 0, pids: 0 },
      };
      await h.put('service', s);
      const ls = loops(h);
      for (const l of ls) l.start();
      await quiet(ls);
      for (const l of ls) await l.stop();
      return h.live('s1').map((t) => [t.slot, t.nodeId]);
    };
    const together = await run((h) => [pipelineLoop(h.store)]);
    const apart = await run((h) => [allocatingOrchestratorLoop(h.store), schedulerLoop(h.store)]);
    expect(together).toEqual(apart);
    expect(new Set(together.map(([, n]) => n))).toEqual(new Set(['a', 'b', 'c']));
  });
});
