// Scoped passes for what the property test does not generate (a node removed with network attachments on it,
// a service of 200,000 tasks), and the cases it once found, kept as examples.
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import { orchestrate } from './orchestrate.js';
import { scopeIn, tasksInScope } from './scope.js';
import { harness, service } from './testkit.js';

describe('scoped passes', () => {
  it('a node removed: its network attachments are removed, those of other nodes stay', async () => {
    const h = harness();
    await h.put('node', node('n1'), node('n2'));
    const attachment = (id: string, nodeId: string) =>
      Task.fromPartial({
        id,
        nodeId,
        spec: { attachment: { containerId: `c-${id}` } },
        desiredState: TaskState.TASK_STATE_RUNNING,
        status: { state: TaskState.TASK_STATE_RUNNING },
      });
    await h.put('task', attachment('a1', 'n1'), attachment('a2', 'n2'));
    const watch = h.store.watch({});
    await h.store.update((tx) => tx.remove('node', 'n1'));
    const changes = watch.drain();
    const d = h.store.view((tx) => orchestrate(tx, h.clock.now, () => 'x', { scope: scopeIn(tx, changes) }));
    expect(d.removes.map((t) => t.id)).toEqual(['a1']);
    expect(d.creates).toEqual([]);
    expect(d.updates).toEqual([]);
  });

  it('a node that leaves a constraint after a rollout completed: a new rollout replaces its task, in a scoped pass too', async () => {
    const h = harness();
    const NODES = ['n1', 'n2'];
    await h.put('node', node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } }));
    await h.put('service', service('s', 'web', { replicas: 2 }));
    await h.converge(NODES); // one task on each node
    const kept = h.live('s').find((t) => t.nodeId === 'n1')!;
    // Constrained to zone a, as the control API writes it: the task on n2 is replaced (the rollout completes),
    // the one on n1 stays, made from the old spec but meeting the new constraint (swarmkit's rule).
    await h.edit('service', 's', (s) => {
      s.spec!.taskTemplate!.placement!.constraints = ['node.labels.zone==a'];
      s.updateStatus = undefined;
    });
    await h.converge(['n1']);
    h.clock.now += 10_000;
    await h.settle();
    expect(h.store.view((tx) => tx.get('service', 's'))?.updateStatus?.state).toBe(
      UpdateState.UPDATE_STATE_COMPLETED,
    );
    expect(h.live('s').map((t) => t.id)).toContain(kept.id);
    // Then n1 leaves zone a: the kept task no longer meets the constraint, with no change to the service.
    const watch = h.store.watch({});
    await h.edit('node', 'n1', (n) => {
      n.spec!.annotations!.labels = { zone: 'b' };
    });
    const changes = watch.drain();
    watch.close();
    let id = 0;
    const pass = (scoped: boolean) =>
      h.store.view((tx) =>
        orchestrate(tx, h.clock.now, () => `x${++id}`, { scope: scoped ? scopeIn(tx, changes) : undefined }),
      );
    const full = pass(false);
    const part = pass(true);
    for (const d of [full, part]) {
      expect(d.updates.map((t) => [t.id, t.desiredState])).toEqual([
        [kept.id, TaskState.TASK_STATE_SHUTDOWN],
      ]);
      expect(d.creates.map((t) => t.slot)).toEqual([kept.slot]);
      // A new rollout, shown as one (the finished one does not go on silently).
      expect(d.updateServices?.map((s) => s.updateStatus?.state)).toEqual([
        UpdateState.UPDATE_STATE_UPDATING,
      ]);
    }
  });

  it("a changed service's tasks are all in the allocator's scope, however many (no arguments spread)", async () => {
    const h = harness();
    await h.put('service', service('s1', 'big'));
    const n = 200_000;
    await h.store.update((tx) => {
      for (let i = 1; i <= n; i++)
        tx.create(
          'task',
          Task.fromPartial({
            id: `t${i}`,
            serviceId: 's1',
            slot: i,
            desiredState: TaskState.TASK_STATE_RUNNING,
          }),
        );
    });
    const scope = {
      services: new Set(['s1']),
      slots: new Map(),
      nodes: new Set<string>(),
      changedNodes: new Set<string>(),
      loose: new Set<string>(),
      tasks: new Set(['t1']),
    };
    const got = h.store.view((tx) => tasksInScope(tx, scope));
    expect(got.length).toBe(n);
  });
});
