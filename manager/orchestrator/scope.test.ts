// Scoped passes for what the property test does not generate: a node removed with network attachments on it.
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
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
