import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability, NodeRole, NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import { editService, imageOf } from './spec.js';
import { harness, service } from './testkit.js';

const S = TaskState;
const liveNodes = (ts: Task[]) => ts.map((t) => t.nodeId).sort();

describe('global orchestrator', () => {
  it('one task per ready, active, matching node, bound to it', async () => {
    const h = harness();
    await h.put(
      'node',
      node('a'),
      node('b', { role: NodeRole.NODE_ROLE_MANAGER }),
      node('c', { availability: NodeAvailability.NODE_AVAILABILITY_DRAIN }),
      node('d', { availability: NodeAvailability.NODE_AVAILABILITY_PAUSE }),
      node('e', { state: NodeState.NODE_STATE_DOWN }),
    );
    await h.put('service', service('g', 'agent', { global: true, constraints: ['node.role==worker'] }));
    await h.settle();
    const live = h.live('g');
    expect(liveNodes(live)).toEqual(['a']);
    expect(live[0]).toMatchObject({ slot: 0, status: { state: S.TASK_STATE_NEW } });
    expect(live[0].annotations?.name).toBe(`agent.a.${live[0].id}`);
  });

  it('follows joins, drains, downs, removals and label changes', async () => {
    const h = harness();
    await h.put('node', node('a'), node('b'));
    await h.put('service', service('g', 'agent', { global: true, constraints: ['node.labels.role!=db'] }));
    await h.settle();
    expect(liveNodes(h.live('g'))).toEqual(['a', 'b']);

    await h.put('node', node('c'));
    await h.settle();
    expect(liveNodes(h.live('g'))).toEqual(['a', 'b', 'c']);

    await h.edit('node', 'a', (n) => {
      n.spec!.availability = NodeAvailability.NODE_AVAILABILITY_DRAIN;
    });
    await h.edit('node', 'b', (n) => {
      n.status!.state = NodeState.NODE_STATE_DOWN;
    });
    await h.edit('node', 'c', (n) => {
      n.spec!.annotations!.labels = { role: 'db' };
    });
    await h.settle();
    expect(liveNodes(h.live('g'))).toEqual([]);
    expect(h.tasks('g').every((t) => t.desiredState === S.TASK_STATE_SHUTDOWN)).toBe(true);

    // back to active: a fresh task (the old one was stopped on request, not by a failure)
    await h.edit('node', 'a', (n) => {
      n.spec!.availability = NodeAvailability.NODE_AVAILABILITY_ACTIVE;
    });
    await h.store.update((tx) => tx.remove('node', 'b'));
    await h.settle();
    expect(liveNodes(h.live('g'))).toEqual(['a']);
    expect(h.tasks('g').filter((t) => t.nodeId === 'b')).toEqual([]); // a removed node's tasks are deleted
  });

  it('a paused node keeps its task but gets no new one', async () => {
    const h = harness();
    await h.put('node', node('a'));
    await h.put('service', service('g', 'agent', { global: true }));
    await h.settle();
    await h.edit('node', 'a', (n) => {
      n.spec!.availability = NodeAvailability.NODE_AVAILABILITY_PAUSE;
    });
    await h.put('service', service('g2', 'other', { global: true }));
    expect(await h.settle()).toBe(0);
    expect(liveNodes(h.live('g'))).toEqual(['a']);
    expect(h.live('g2')).toEqual([]);
  });

  it('restarts a failed task on the same node, per its policy', async () => {
    const h = harness();
    await h.put('node', node('a'), node('b'));
    await h.put('service', service('g', 'agent', { global: true, restart: { maxAttempts: 1 } }));
    await h.settle();
    const onA = () => h.live('g').find((t) => t.nodeId === 'a') as Task;
    await h.report(onA().id, S.TASK_STATE_FAILED);
    await h.settle();
    expect(onA().status?.state).toBe(S.TASK_STATE_NEW);
    await h.report(onA().id, S.TASK_STATE_FAILED);
    await h.settle();
    expect(liveNodes(h.live('g'))).toEqual(['b']); // a: attempts used up
    expect(h.tasks('g').filter((t) => t.nodeId === 'a')).toHaveLength(2);
  });

  it('a spec update replaces each node task in place', async () => {
    const h = harness();
    await h.put('node', node('a'), node('b'));
    await h.put('service', service('g', 'agent', { global: true, update: { parallelism: 0 } }));
    await h.settle();
    await h.edit('service', 'g', (s) => {
      editService(s, { image: 'bb:2' });
    });
    await h.settle();
    const live = h.live('g');
    expect(liveNodes(live)).toEqual(['a', 'b']);
    expect(live.every((t) => imageOf(t) === 'bb:2')).toBe(true);
    expect(h.tasks('g')).toHaveLength(4);
  });
});
