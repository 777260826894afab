// The ledger kept from events equals the figures rebuilt from the whole store, whatever happened: tasks placed,
// moved through their states, given reservations and host ports, stopped, removed; nodes joining, changing size,
// leaving and coming back; a snapshot restored over it. And a pass with it decides what a pass without it does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { Store } from '../store/index.js';
import { storeOnMemoryLog } from '../store/testkit.js';
import { NodeLedger } from './ledger.js';
import { buildNodeInfos, type NodeInfo } from './nodeinfo.js';
import { isSchedulable, schedule } from './schedule.js';
import { node, task } from './testkit.js';

const NODES = ['n1', 'n2', 'n3'];
const TASKS = ['t1', 't2', 't3', 't4', 't5', 't6'];
const STATES = [
  TaskState.TASK_STATE_NEW,
  TaskState.TASK_STATE_PENDING,
  TaskState.TASK_STATE_ASSIGNED,
  TaskState.TASK_STATE_RUNNING,
  TaskState.TASK_STATE_COMPLETE,
  TaskState.TASK_STATE_FAILED,
];
const DESIRED = [TaskState.TASK_STATE_READY, TaskState.TASK_STATE_RUNNING, TaskState.TASK_STATE_SHUTDOWN];

type Step =
  | { kind: 'putNode'; id: string; cpus: number }
  | { kind: 'dropNode'; id: string }
  | {
      kind: 'putTask';
      id: string;
      service: string;
      nodeId: string;
      state: TaskState;
      desired: TaskState;
      cpus: number;
      port: number | undefined;
    }
  | { kind: 'dropTask'; id: string }
  | { kind: 'restore' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('putNode' as const),
    id: fc.constantFrom(...NODES),
    cpus: fc.constantFrom(1e9, 4e9),
  }),
  fc.record({ kind: fc.constant('dropNode' as const), id: fc.constantFrom(...NODES) }),
  fc.record({
    kind: fc.constant('putTask' as const),
    id: fc.constantFrom(...TASKS),
    service: fc.constantFrom('s1', 's2'),
    nodeId: fc.constantFrom('', ...NODES, 'gone'),
    state: fc.constantFrom(...STATES),
    desired: fc.constantFrom(...DESIRED),
    cpus: fc.constantFrom(0, 5e8),
    port: fc.option(fc.constantFrom(80, 443), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('dropTask' as const), id: fc.constantFrom(...TASKS) }),
  fc.record({ kind: fc.constant('restore' as const) }),
);

async function play(store: Store, other: Store, s: Step): Promise<void> {
  if (s.kind === 'restore') {
    // Another store's state (whatever it holds) installed over this one: watchers see the difference.
    store.restore(other.snapshot());
    return;
  }
  await store.update((tx) => {
    if (s.kind === 'putNode' || s.kind === 'putTask') {
      const table = s.kind === 'putNode' ? 'node' : 'task';
      const fresh =
        s.kind === 'putNode'
          ? node(s.id, { nanoCpus: s.cpus })
          : task(s.id, s.service, 1, {
              nodeId: s.nodeId,
              state: s.state,
              desired: s.desired,
              nanoCpus: s.cpus,
              hostPorts: s.port === undefined ? undefined : [s.port],
            });
      const cur = tx.get(table, s.id);
      if (cur) tx.update(table, { ...fresh, meta: cur.meta } as Node & Task);
      else tx.create(table, { ...fresh, meta: undefined } as Node & Task);
    } else {
      const table = s.kind === 'dropNode' ? 'node' : 'task';
      if (tx.get(table, s.id)) tx.remove(table, s.id);
    }
  });
}

const plain = (infos: Map<string, NodeInfo>) =>
  [...infos.values()]
    .map((i) => ({
      id: i.node.id,
      cpus: i.nanoCpus,
      mem: i.memoryBytes,
      tasks: i.tasks,
      byService: [...i.byService].sort(),
      ports: [...i.hostPorts].sort(),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));

describe('NodeLedger', () => {
  it('equals the figures rebuilt from the store after every change, and a pass with it decides the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 8 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        async (before, after) => {
          const { store } = storeOnMemoryLog('sync');
          const { store: other } = storeOnMemoryLog('sync');
          for (const s of before) await play(store, other, s);
          for (const s of before.slice(0, 4)) if (s.kind !== 'restore') await play(other, store, s);
          const l = store.viewAndObserve(
            (tx) => NodeLedger.of(tx, isSchedulable),
            (events) => l.value.apply(events),
          );
          try {
            for (const s of after) {
              await play(store, other, s);
              store.view((tx) => {
                const tasks = tx.list('task');
                expect(plain(l.value.infos())).toEqual(plain(buildNodeInfos(tx.list('node'), tasks)));
                expect(l.value.pending().sort()).toEqual(
                  tasks
                    .filter(isSchedulable)
                    .map((t) => t.id)
                    .sort(),
                );
                expect(schedule(tx, 1, l.value)).toEqual(schedule(tx, 1));
              });
            }
          } finally {
            l.stop();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stops hearing the store once stopped', async () => {
    const { store } = storeOnMemoryLog('sync');
    const l = store.viewAndObserve(
      (tx) => NodeLedger.of(tx, isSchedulable),
      (events) => l.value.apply(events),
    );
    await store.update((tx) => tx.create('node', { ...node('n1'), meta: undefined }));
    l.stop();
    await store.update((tx) => tx.create('node', { ...node('n2'), meta: undefined }));
    expect([...l.value.infos().keys()]).toEqual(['n1']);
  });

  it('an observer that throws is dropped and told; the write applies and the others still hear it', async () => {
    const { store } = storeOnMemoryLog('sync');
    const heard: string[] = [];
    const lost: unknown[] = [];
    store.viewAndObserve(
      () => undefined,
      () => {
        throw new Error('ledger bug');
      },
      (err) => lost.push(err),
    );
    store.viewAndObserve(
      () => undefined,
      (events) => heard.push(...events.map((e) => e.object.id)),
    );
    await store.update((tx) => tx.create('node', { ...node('n1'), meta: undefined }));
    await store.update((tx) => tx.create('node', { ...node('n2'), meta: undefined }));
    expect(store.view((tx) => tx.list('node').map((n) => n.id))).toEqual(['n1', 'n2']);
    expect(heard).toEqual(['n1', 'n2']);
    expect(lost).toHaveLength(1);
    expect((lost[0] as Error).message).toBe('ledger bug');
  });
});
