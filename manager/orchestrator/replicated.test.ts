import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  EndpointMode,
  NodeAvailability,
  NodeState,
  PortProtocol,
  PublishMode,
  RestartCondition,
  TaskState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { schedule } from '../scheduler/schedule.js';
import { node } from '../scheduler/testkit.js';
import { makeCluster } from '../store/testkit.js';
import { editService, imageOf } from './spec.js';
import { harness, seconds, service } from './testkit.js';

const S = TaskState;
const slots = (ts: Task[]) => ts.map((t) => t.slot);

/** Puts the service's live tasks on nodes (round robin) and marks them RUNNING, as scheduler + worker would. */
async function runOn(h: ReturnType<typeof harness>, serviceId: string, nodes: string[]) {
  let i = 0;
  for (const t of h.live(serviceId)) {
    if (t.nodeId) continue;
    const nodeId = nodes[i++ % nodes.length];
    await h.edit('task', t.id, (x) => {
      x.nodeId = nodeId;
      x.status = { ...(x.status as NonNullable<Task['status']>), state: S.TASK_STATE_RUNNING };
    });
  }
}

describe('replicated orchestrator', () => {
  it('creates one task per slot 1..N from the service, then decides nothing more', async () => {
    const h = harness();
    await h.put('service', service('s1', 'web', { replicas: 3 }));
    const d = h.decide();
    expect(d.creates.map((t) => t.slot)).toEqual([1, 2, 3]);
    const t = d.creates[0];
    expect(t).toMatchObject({
      serviceId: 's1',
      nodeId: '',
      desiredState: S.TASK_STATE_RUNNING,
      serviceVersion: 1,
      status: { state: S.TASK_STATE_NEW, message: 'created', timestamp: h.clock.now },
      serviceAnnotations: { name: 'web' },
    });
    expect(imageOf(t)).toBe('bb:1');
    expect(t.annotations?.name).toBe(`web.1.${t.id}`);
    expect(await h.settle()).toBe(1);
    expect(slots(h.live('s1'))).toEqual([1, 2, 3]);
  });

  it('scale up fills the missing slots only', async () => {
    const h = harness();
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    const before = h.live('s1').map((t) => t.id);
    await h.edit('service', 's1', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 5 } };
    });
    await h.settle();
    expect(slots(h.live('s1'))).toEqual([1, 2, 3, 4, 5]);
    expect(
      h
        .live('s1')
        .map((t) => t.id)
        .slice(0, 2),
    ).toEqual(before);
  });

  it('scale down removes slots from the node with most copies, not-running first, and the reaper deletes them', async () => {
    const h = harness();
    await h.put('node', node('a'), node('b'), node('c'));
    await h.put('service', service('s1', 'web', { replicas: 5 }));
    await h.settle();
    // slots 1,2,3 on a; 4 on b; 5 on c
    const ts = h.live('s1');
    for (const [i, n] of ['a', 'a', 'a', 'b', 'c'].entries()) {
      await h.edit('task', ts[i].id, (x) => {
        x.nodeId = n;
        x.status = {
          ...(x.status as NonNullable<Task['status']>),
          state: i === 0 ? S.TASK_STATE_STARTING : S.TASK_STATE_RUNNING,
        };
      });
    }
    await h.edit('service', 's1', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 3 } };
    });
    await h.step();
    const removing = h.tasks('s1').filter((t) => t.desiredState === S.TASK_STATE_REMOVE);
    // a holds three copies: two go. Slot 1 is not running yet, so it goes before the running ones.
    expect(slots(removing)).toEqual([1, 3]);
    expect(await h.settle()).toBe(0);
    for (const t of removing) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
    await h.settle();
    expect(slots(h.tasks('s1'))).toEqual([2, 4, 5]);
  });

  it('restarts a failed task in its slot (old one desired SHUTDOWN); an unhealthy report is a failure too', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    await runOn(h, 's1', ['a']);
    const [t1, t2] = h.live('s1');
    await h.report(t1.id, S.TASK_STATE_FAILED, 'task: non-zero exit (1)');
    await h.report(t2.id, S.TASK_STATE_FAILED, 'unhealthy container');
    await h.settle();
    const all = h.tasks('s1');
    expect(all.find((t) => t.id === t1.id)?.desiredState).toBe(S.TASK_STATE_SHUTDOWN);
    expect(all.find((t) => t.id === t2.id)?.desiredState).toBe(S.TASK_STATE_SHUTDOWN);
    const live = h.live('s1');
    expect(slots(live)).toEqual([1, 2]);
    expect(live.every((t) => t.nodeId === '' && t.status?.state === S.TASK_STATE_NEW)).toBe(true);
  });

  it('condition none: the slot is left as it ended, and stays so', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put(
      'service',
      service('s1', 'web', { replicas: 1, restart: { condition: RestartCondition.RESTART_CONDITION_NONE } }),
    );
    await h.settle();
    await runOn(h, 's1', ['a']);
    await h.report(h.live('s1')[0].id, S.TASK_STATE_COMPLETE);
    await h.settle();
    expect(h.tasks('s1')).toHaveLength(1);
    expect(h.tasks('s1')[0].desiredState).toBe(S.TASK_STATE_SHUTDOWN);
    h.clock.now += 3_600_000;
    expect(await h.settle()).toBe(0);
  });

  it('condition on-failure: a COMPLETE task stays done, a FAILED one restarts', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put(
      'service',
      service('s1', 'web', {
        replicas: 2,
        restart: { condition: RestartCondition.RESTART_CONDITION_ON_FAILURE },
      }),
    );
    await h.settle();
    await runOn(h, 's1', ['a']);
    const [t1, t2] = h.live('s1');
    await h.report(t1.id, S.TASK_STATE_COMPLETE);
    await h.report(t2.id, S.TASK_STATE_REJECTED);
    await h.settle();
    expect(h.tasks('s1').filter((t) => t.slot === 1)).toHaveLength(1);
    expect(h.tasks('s1').filter((t) => t.slot === 2)).toHaveLength(2);
  });

  it('a restart delay creates the task desired READY, and RUNNING once the delay has passed', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { restart: { delay: seconds(5) } }));
    await h.settle();
    await runOn(h, 's1', ['a']);
    await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
    const d = await h.step();
    expect(d.creates[0].desiredState).toBe(S.TASK_STATE_READY);
    expect(d.wakeAt).toBe(h.clock.now + 5000);
    h.clock.now += 4999;
    const early = h.decide();
    expect(early.updates).toEqual([]);
    expect(early.wakeAt).toBe(h.clock.now + 1);
    h.clock.now += 1;
    await h.settle();
    expect(h.live('s1')[0].desiredState).toBe(S.TASK_STATE_RUNNING);
  });

  it('max attempts: restarts stop after N, counted from the store (a new leader counts the same)', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { restart: { maxAttempts: 2 } }));
    await h.settle();
    for (let i = 0; i < 3; i++) {
      await runOn(h, 's1', ['a']);
      h.clock.now += 1000;
      await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
      await h.settle();
    }
    // the original + 2 restarts, all failed; nothing live
    expect(h.tasks('s1')).toHaveLength(3);
    expect(h.live('s1')).toHaveLength(0);
    h.clock.now += 3_600_000;
    expect(await h.settle()).toBe(0);
  });

  it('max attempts within a window: older restarts no longer count', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { restart: { maxAttempts: 1, window: seconds(60) } }));
    await h.settle();
    await runOn(h, 's1', ['a']);
    h.clock.now += 1000;
    await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
    await h.settle(); // restart 1
    await runOn(h, 's1', ['a']);
    h.clock.now += 120_000; // restart 1 is now outside the window
    await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
    await h.settle();
    expect(h.live('s1')).toHaveLength(1); // restart 2 allowed
    await runOn(h, 's1', ['a']);
    h.clock.now += 1000; // restart 2 inside the window: no third
    await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
    await h.settle();
    expect(h.live('s1')).toHaveLength(0);
  });

  it('an updated spec replaces every task (same slots, new version); a replicas-only change replaces none', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    await runOn(h, 's1', ['a']);
    const old = h.live('s1').map((t) => t.id);
    await h.edit('service', 's1', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 2 } };
      s.spec!.annotations!.labels = { x: 'y' };
    });
    expect(await h.settle()).toBe(0);
    await h.edit('service', 's1', (s) => {
      editService(s, { image: 'bb:2' });
    });
    await h.converge(['a']);
    const live = h.live('s1');
    expect(slots(live)).toEqual([1, 2]);
    expect(live.every((t) => imageOf(t) === 'bb:2' && !old.includes(t.id))).toBe(true);
    expect(
      h
        .tasks('s1')
        .filter((t) => old.includes(t.id))
        .every((t) => t.desiredState === S.TASK_STATE_SHUTDOWN),
    ).toBe(true);
  });

  it('host-mode ports reach the scheduler from the service spec; changing them replaces the tasks', async () => {
    const h = harness();
    await h.put('node', node('a'));
    const svc = service('s1', 'web', { replicas: 2, update: { parallelism: 0 } });
    const port = (published: number) => ({
      name: '',
      protocol: PortProtocol.PORT_PROTOCOL_TCP,
      targetPort: 80,
      publishedPort: published,
      publishMode: PublishMode.PUBLISH_MODE_HOST,
    });
    editService(svc, { endpoint: { mode: EndpointMode.ENDPOINT_MODE_VIP, ports: [port(8080)] } });
    await h.put('service', svc);
    await h.settle();
    for (const t of h.live('s1')) await h.report(t.id, S.TASK_STATE_PENDING);
    const d = h.store.view((tx) => schedule(tx, h.clock.now));
    expect(d.updates.map((t) => [t.slot, t.nodeId, t.status?.err])).toEqual([
      [1, 'a', ''],
      [2, '', 'no suitable node (host-mode port already in use on 1 node)'],
    ]);
    const old = h.live('s1').map((t) => t.id);
    await h.edit('service', 's1', (s) => {
      editService(s, { endpoint: { mode: EndpointMode.ENDPOINT_MODE_VIP, ports: [port(9090)] } });
    });
    await h.settle();
    expect(h.live('s1').some((t) => old.includes(t.id))).toBe(false);
    expect(h.live('s1')[0].endpoint?.spec?.ports[0].publishedPort).toBe(9090);
  });

  it('a placement-only change keeps tasks whose node still matches', async () => {
    const h = harness();
    await h.put('node', node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y' } }));
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    await runOn(h, 's1', ['a', 'b']);
    await h.edit('service', 's1', (s) => {
      editService(s, {
        placement: { constraints: ['node.labels.zone==x'], preferences: [], maxReplicas: 0, platforms: [] },
      });
    });
    await h.settle();
    const live = h.live('s1');
    expect(live.map((t) => t.nodeId)).toEqual(['a', '']); // slot 2 (on b) replaced, slot 1 kept
  });

  it('a task on a node that is down, removed or drained is shut down and replaced; paused keeps it', async () => {
    const h = harness();
    await h.put('node', node('a'), node('b'), node('c'), node('d'));
    await h.put(
      'service',
      service('s1', 'web', { replicas: 4, restart: { condition: RestartCondition.RESTART_CONDITION_NONE } }),
    );
    await h.settle();
    await runOn(h, 's1', ['a', 'b', 'c', 'd']);
    const before = h.live('s1');
    await h.edit('node', 'a', (n) => {
      n.status!.state = NodeState.NODE_STATE_DOWN;
    });
    await h.store.update((tx) => tx.remove('node', 'b'));
    await h.edit('node', 'c', (n) => {
      n.spec!.availability = NodeAvailability.NODE_AVAILABILITY_DRAIN;
    });
    await h.edit('node', 'd', (n) => {
      n.spec!.availability = NodeAvailability.NODE_AVAILABILITY_PAUSE;
    });
    await h.settle();
    const live = h.live('s1');
    expect(slots(live)).toEqual([1, 2, 3, 4]);
    expect(live.map((t) => t.nodeId)).toEqual(['', '', '', 'd']);
    for (const t of before.slice(0, 3)) {
      const old = h.tasks('s1').find((x) => x.id === t.id);
      expect(old?.desiredState).toBe(S.TASK_STATE_SHUTDOWN); // a worker coming back stops it
    }
  });

  it('two live tasks in one slot (an interrupted replacement): the newest stays', async () => {
    const h = harness();
    await h.put('service', service('s1', 'web', { replicas: 1 }));
    await h.settle();
    const [first] = h.live('s1');
    h.clock.now += 1000;
    await h.put('task', { ...first, id: 'dup', meta: undefined });
    await h.settle();
    expect(h.live('s1').map((t) => t.id)).toEqual(['dup']);
    expect(h.tasks('s1').find((t) => t.id === first.id)?.desiredState).toBe(S.TASK_STATE_SHUTDOWN);
  });

  it('a removed service: tasks desired REMOVE, deleted once stopped, then the service itself', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    await runOn(h, 's1', ['a']);
    await h.edit('service', 's1', (s) => {
      s.pendingDelete = true;
    });
    await h.settle();
    expect(h.tasks('s1').map((t) => t.desiredState)).toEqual([S.TASK_STATE_REMOVE, S.TASK_STATE_REMOVE]);
    expect(h.store.view((tx) => tx.get('service', 's1'))).toBeDefined();
    for (const t of h.tasks('s1')) await h.report(t.id, S.TASK_STATE_SHUTDOWN);
    await h.settle();
    expect(h.tasks('s1')).toEqual([]);
    expect(h.store.view((tx) => tx.get('service', 's1'))).toBeUndefined();
  });

  it('tasks whose service is gone are removed', async () => {
    const h = harness();
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await h.settle();
    await h.store.update((tx) => tx.remove('service', 's1'));
    await h.settle();
    expect(h.tasks()).toEqual([]); // never assigned: deleted at once
  });

  it('keeps task_history_retention_limit tasks per slot (default 5, cluster setting, negative keeps all)', async () => {
    for (const [limit, expected] of [
      [undefined, 5],
      [2, 2],
      [-1, 8],
    ] as const) {
      const h = harness();
      if (limit !== undefined) {
        const c = makeCluster('c1');
        c.spec!.orchestration = { taskHistoryRetentionLimit: limit };
        await h.put('cluster', c);
      }
      await h.put('node', node('a'));
      await h.put('service', service('s1', 'web'));
      await h.settle();
      for (let i = 0; i < 7; i++) {
        await runOn(h, 's1', ['a']);
        h.clock.now += 1000;
        await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
        await h.settle();
      }
      const ts = h.tasks('s1');
      expect(ts, `limit ${limit}`).toHaveLength(expected);
      expect(ts.filter((t) => t.desiredState === S.TASK_STATE_RUNNING)).toHaveLength(1);
      // the newest are kept
      const created = ts.map((t) => t.meta?.createdAt ?? 0);
      expect(Math.max(...created)).toBe(h.clock.now);
    }
  });

  it('history keeps max_attempts+1 tasks so the attempt count survives pruning', async () => {
    const h = harness();
    const c = makeCluster('c1');
    c.spec!.orchestration = { taskHistoryRetentionLimit: 2 };
    await h.put('cluster', c);
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { restart: { maxAttempts: 4 } }));
    await h.settle();
    for (let i = 0; i < 6; i++) {
      if (h.live('s1').length === 0) break;
      await runOn(h, 's1', ['a']);
      h.clock.now += 1000;
      await h.report(h.live('s1')[0].id, S.TASK_STATE_FAILED);
      await h.settle();
    }
    expect(h.tasks('s1')).toHaveLength(5); // original + 4 restarts, all kept
    expect(h.live('s1')).toHaveLength(0);
  });
});
