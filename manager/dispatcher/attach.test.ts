// Network attachments end to end inside the manager: the dispatcher makes the attachment task, the
// allocating orchestrator (the loop shoald runs) gives it an address, and the network plans show it.
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import { FakeClock } from '../../common/fake-clock.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { allocatingOrchestratorLoop } from '../allocator/index.js';
import { ControlApi, predefinedIngress } from '../controlapi/index.js';
import { makeCluster, makeNode, storeOnMemoryLog } from '../store/testkit.js';
import { Dispatcher } from './dispatcher.js';
import { NetworkPlans } from './networks.js';

async function setup() {
  const { store, clock: storeClock } = storeOnMemoryLog();
  const cluster = makeCluster('c1');
  await store.update((tx) => {
    tx.create('cluster', cluster);
    tx.create('network', predefinedIngress('ingress0', cluster));
    tx.create('node', makeNode('n1', 'host-n1'));
    tx.create('node', makeNode('n2', 'host-n2'));
  });
  const control = new ControlApi(
    store,
    undefined,
    () => 0.5,
    () => storeClock.now,
  );
  const spec = (name: string, attachable: boolean) =>
    ({
      annotations: { name, labels: {} },
      driverConfig: { name: 'overlay', options: {} },
      attachable,
    }) as never;
  const open = await control.createNetwork(spec('open', true));
  const closed = await control.createNetwork(spec('closed', false));
  const loop = allocatingOrchestratorLoop(store);
  loop.start();
  const d = new Dispatcher(store, { clock: new FakeClock(), log: () => {} });
  d.start();
  const stop = async () => {
    d.stop();
    await loop.stop();
  };
  return { store, control, open, closed, d, stop };
}

const req = (network: string, containerId = 'c'.repeat(64), containerName = 'app') => ({
  network,
  containerId,
  containerName,
  aliases: ['web-alias'],
});

describe('network attachments', () => {
  it('gives a container an address on an attachable overlay that every node on it learns by name', async () => {
    const s = await setup();
    try {
      const a = await s.d.attachNetwork('n1', req('open'));
      expect(a.network?.id).toBe(s.open.id);
      expect(a.address).toMatch(/^10\.0\.\d+\.\d+\/24$/);
      // Asking again answers the same attachment (a retried call makes no second address).
      const again = await s.d.attachNetwork('n1', req(s.open.id));
      expect(again).toEqual(a);
      const t = s.store.view((tx) => tx.get('task', a.attachmentId))!;
      expect(t.status?.state).toBe(TaskState.TASK_STATE_RUNNING);
      expect(t.nodeId).toBe('n1');
      // A service task on n2 on the same network would get n1's container by name in its plan.
      const plans = s.store.view((tx) => new NetworkPlans(tx));
      const plan = plans.plansFor('n1').get(s.open.id)!;
      expect(plan.endpoints.find((e) => e.taskId === a.attachmentId)).toMatchObject({
        address: a.address.split('/')[0],
        name: 'app',
        aliases: ['web-alias'],
        running: true,
      });
      // The orchestrator leaves it alone (it has no service), the task list does not show it.
      await s.store.update(() => {});
      expect(s.store.view((tx) => tx.get('task', a.attachmentId))).toBeDefined();
      expect(await s.control.listTasks({})).toEqual([]);
      // A network in use by a container is not removed.
      await expect(s.control.removeNetwork(s.open.id)).rejects.toThrow(/in use by container app/);
      // Another node cannot take it away; its own node can, and the address is free again.
      await expect(s.d.detachNetwork('n2', a.attachmentId)).rejects.toSatisfy((e) =>
        isShoalError(e, 'permission_denied'),
      );
      await s.d.detachNetwork('n1', a.attachmentId);
      await s.d.detachNetwork('n1', a.attachmentId); // gone already: not an error
      expect(s.store.view((tx) => tx.get('task', a.attachmentId))).toBeUndefined();
      const b = await s.d.attachNetwork('n2', req('open', 'd'.repeat(64), 'other'));
      expect(b.address).toBe(a.address);
    } finally {
      await s.stop();
    }
  });

  it('refuses networks that are not attachable, ingress, unknown ones and missing fields', async () => {
    const s = await setup();
    try {
      await expect(s.d.attachNetwork('n1', req('closed'))).rejects.toThrow(
        'network closed not manually attachable',
      );
      await expect(s.d.attachNetwork('n1', req('ingress'))).rejects.toThrow(/not manually attachable/);
      await expect(s.d.attachNetwork('n1', req('nosuch'))).rejects.toSatisfy((e) =>
        isShoalError(e, 'not_found'),
      );
      await expect(s.d.attachNetwork('n1', req(''))).rejects.toSatisfy((e) =>
        isShoalError(e, 'invalid_argument'),
      );
      await expect(s.d.attachNetwork('n1', { ...req('open'), containerId: '' })).rejects.toThrow(
        /container_id/,
      );
      // Nothing was written by the refusals.
      expect(s.store.view((tx) => tx.list('task'))).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  it('goes with its node when the node is removed', async () => {
    const s = await setup();
    try {
      const a = await s.d.attachNetwork('n2', req('open'));
      await s.store.update((tx) => tx.remove('node', 'n2'));
      for (let i = 0; i < 50 && s.store.view((tx) => tx.get('task', a.attachmentId)); i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(s.store.view((tx) => tx.get('task', a.attachmentId))).toBeUndefined();
    } finally {
      await s.stop();
    }
  });
});
