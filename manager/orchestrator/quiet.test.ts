// isQuietTaskEvent: the task events the orchestrator's loop skips after a settled pass. The property that
// makes skipping safe is checked event by event: whenever an event is called quiet, a pass over the state it
// left decides nothing (the pass before it decided nothing either).
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState as S, UpdateOrder } from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import type { StoreEvent } from '../store/index.js';
import { isEmpty } from './decisions.js';
import { editService, imageOf } from './spec.js';
import { isQuietTaskEvent } from './task.js';
import { harness, seconds, service } from './testkit.js';

type H = ReturnType<typeof harness>;
const NODES = ['a', 'b', 'c'];

/** Applies `fn`'s edit of task `id`; returns whether its event was quiet, having checked the property. */
async function quiet(h: H, id: string, fn: (t: Task) => void): Promise<boolean> {
  expect(isEmpty(h.decide())).toBe(true); // settled before the event
  const w = h.store.watch({ table: 'task' });
  await h.edit('task', id, fn);
  const e = (await w[Symbol.asyncIterator]().next()).value as StoreEvent;
  w.close();
  const q = h.store.view((v) => isQuietTaskEvent(e, v));
  if (q) expect(isEmpty(h.decide())).toBe(true);
  return q;
}

const state = (s: S) => (t: Task) => {
  t.status = { ...(t.status as NonNullable<Task['status']>), state: s, timestamp: t.status!.timestamp + 1 };
};
const assign = (nodeId: string) => (t: Task) => {
  t.nodeId = nodeId;
  state(S.TASK_STATE_ASSIGNED)(t);
};

/** A 3-replica service settled with its tasks PENDING (as the allocating orchestrator leaves them). */
async function pending(): Promise<H> {
  const h = harness();
  await h.put('node', ...NODES.map((n) => node(n)));
  await h.put('service', service('s', 'web', { replicas: 3, update: { monitor: seconds(5) } }));
  await h.settle();
  for (const t of h.tasks('s')) await h.edit('task', t.id, state(S.TASK_STATE_PENDING));
  await h.settle();
  return h;
}

describe('isQuietTaskEvent', () => {
  it('a replica assigned, starting and running in a quiet service: every event is quiet', async () => {
    const h = await pending();
    for (const [i, t] of h.tasks('s').entries()) {
      expect(await quiet(h, t.id, assign(NODES[i]))).toBe(true);
      expect(await quiet(h, t.id, state(S.TASK_STATE_ACCEPTED))).toBe(true);
      expect(await quiet(h, t.id, state(S.TASK_STATE_STARTING))).toBe(true);
      expect(await quiet(h, t.id, state(S.TASK_STATE_RUNNING))).toBe(true);
    }
    // what does concern the orchestrator: a running task failing, a task moved to another node
    const [a, b] = h.tasks('s');
    expect(await quiet(h, a.id, state(S.TASK_STATE_FAILED))).toBe(false);
    expect(isEmpty(h.decide())).toBe(false); // a replacement
    await h.settle();
    expect(
      await quiet(h, b.id, (t) => {
        t.nodeId = 'c';
      }),
    ).toBe(false);
  });

  it('a desired-state change, or a task of a service being updated reaching RUNNING, is not quiet', async () => {
    const h = await pending();
    const [a, b] = h.tasks('s');
    await h.edit('task', a.id, assign('a'));
    expect(
      await quiet(h, a.id, (t) => {
        t.desiredState = S.TASK_STATE_SHUTDOWN;
      }),
    ).toBe(false);
    await h.settle();
    await h.edit('service', 's', (s) => {
      s.previousSpec = structuredClone(s.spec);
      editService(s, { image: 'bb:2' });
    });
    await h.settle(); // UPDATING
    const fresh = h
      .live('s')
      .find((t) => t.id !== b.id && imageOf(t) === 'bb:2' && t.status?.state === S.TASK_STATE_NEW);
    if (fresh) await h.edit('task', fresh.id, state(S.TASK_STATE_PENDING));
    await h.edit('task', b.id, assign('b'));
    await h.settle();
    expect(await quiet(h, b.id, state(S.TASK_STATE_RUNNING))).toBe(false);
  });

  it('start-first: the replacement reaching RUNNING beside the old task is not quiet (the old one goes)', async () => {
    const h = harness();
    await h.put('node', ...NODES.map((n) => node(n)));
    await h.put(
      'service',
      service('s', 'web', {
        replicas: 1,
        update: { monitor: seconds(5), order: UpdateOrder.UPDATE_ORDER_START_FIRST },
      }),
    );
    await h.converge(NODES);
    await h.edit('service', 's', (s) => {
      s.previousSpec = structuredClone(s.spec);
      editService(s, { image: 'bb:2' });
    });
    await h.settle();
    const next = h.live('s').find((t) => imageOf(t) === 'bb:2');
    if (!next) throw new Error('no replacement');
    await h.edit('task', next.id, state(S.TASK_STATE_PENDING));
    await h.settle();
    expect(await quiet(h, next.id, assign('b'))).toBe(true);
    // the update is finished as far as the status goes only once the new task runs: even a service whose
    // update status says nothing keeps the handoff's RUNNING report (two live tasks in the slot)
    await h.edit('service', 's', (s) => {
      s.updateStatus = undefined;
    });
    expect(await quiet(h, next.id, state(S.TASK_STATE_RUNNING))).toBe(false);
    expect(isEmpty(h.decide())).toBe(false);
  });

  it('binding a task with networks to a node is not quiet: the node needs an attachment', async () => {
    const h = await pending();
    const [a] = h.tasks('s');
    await h.edit('task', a.id, (t) => {
      t.networks = [
        { network: undefined, addresses: ['10.0.0.3/24'], aliases: [], driverAttachmentOpts: {} },
      ];
    });
    expect(await quiet(h, a.id, assign('a'))).toBe(false);
  });

  it('events other than task updates are never quiet', async () => {
    const h = await pending();
    const w = h.store.watch({});
    await h.edit('node', 'a', (n) => {
      n.spec!.annotations!.labels = { x: '1' };
    });
    const e = (await w[Symbol.asyncIterator]().next()).value as StoreEvent;
    w.close();
    expect(h.store.view((v) => isQuietTaskEvent(e, v))).toBe(false);
  });
});
