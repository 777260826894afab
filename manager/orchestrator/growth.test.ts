// A scale-up made a slice at a time: each pass creates at most `maxCreates` tasks and carries what it holds to
// the next, which looks at what changed and goes on, until the service has its replicas.
import { describe, expect, it } from 'vitest';
import { NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import type { StoreEvent } from '../store/index.js';
import { applyDecisions, type Decisions } from './decisions.js';
import { orchestrate, type PassOptions } from './orchestrate.js';
import { scopeIn } from './scope.js';
import { harness, service } from './testkit.js';

function slices(maxCreates: number) {
  const h = harness();
  const watch = h.store.watch({});
  let carry: unknown;
  let first = true;
  let ids = 0;
  /** One pass as the loop runs it: over everything first, then over the events since, with the carry. */
  const pass = async (): Promise<Decisions> => {
    const changes: StoreEvent[] = watch.drain();
    const scope = first ? undefined : h.store.view((tx) => scopeIn(tx, changes));
    first = false;
    const d = h.store.view((tx) =>
      orchestrate(tx, h.clock.now, () => `g${++ids}`, { scope, carry: scope && carry, maxCreates }),
    );
    await h.store.update((tx) => applyDecisions(tx, d));
    carry = d.carry;
    return d;
  };
  const slots = () => h.tasks('s').map((t) => t.slot);
  return { h, pass, slots };
}

describe('scale-up a slice at a time', () => {
  it('creates at most maxCreates a pass, in the lowest free slots, until every replica exists', async () => {
    const { h, pass, slots } = slices(10);
    await h.put('service', service('s', 'web', { replicas: 25 }));
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) sizes.push((await pass()).creates.length);
    expect(sizes).toEqual([10, 10, 5, 0, 0]);
    expect(slots()).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('a change of the service meanwhile is looked at whole: scaled down to 12, only 2 more', async () => {
    const { h, pass, slots } = slices(10);
    await h.put('service', service('s', 'web', { replicas: 25 }));
    expect((await pass()).creates).toHaveLength(10);
    await h.edit('service', 's', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 12 } };
    });
    const d = await pass();
    expect(d.creates.map((t) => t.slot)).toEqual([11, 12]);
    expect(d.carry).toBeUndefined();
    expect((await pass()).creates).toHaveLength(0);
    expect(slots()).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('a slot freed behind its back (a live task deleted) is filled again', async () => {
    const { h, pass, slots } = slices(10);
    await h.put('service', service('s', 'web', { replicas: 15 }));
    await pass();
    const third = h.tasks('s').find((t) => t.slot === 3)!;
    await h.store.update((tx) => tx.remove('task', third.id));
    await pass();
    await pass();
    expect(slots()).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });
});

describe('a pass over everything as a sweep', () => {
  it('decides, slice after slice, what one pass over everything decides', async () => {
    const h = harness();
    const nodes = ['n0', 'n1', 'n2'];
    await h.put('node', ...nodes.map((id) => node(id)));
    await h.put('service', service('s', 'web', { replicas: 30 }));
    await h.converge(nodes);
    // What changed with no pass to see it (a new leader's first pass): failures, a node lost.
    for (const slot of [3, 17, 29]) {
      const t = h.live('s').find((x) => x.slot === slot)!;
      await h.report(t.id, TaskState.TASK_STATE_FAILED);
    }
    await h.edit('node', 'n1', (n) => {
      n.status!.state = NodeState.NODE_STATE_DOWN;
    });
    const decide = decider(h);
    const whole = decide({ sweepFrom: Number.POSITIVE_INFINITY });
    const parts = [decide({ sweepFrom: 10, sweepSlice: 7 })];
    while (parts.at(-1)?.carry) {
      const carry = parts.at(-1)?.carry;
      parts.push(decide({ scope: emptyScope(), carry, sweepSlice: 7 }));
    }
    expect(parts).toHaveLength(5); // 30 slots, 7 a pass
    const key = (d: Decisions[]) => ({
      creates: d.flatMap((x) => x.creates.map((t) => `${t.slot} ${t.desiredState}`)).sort(),
      updates: d.flatMap((x) => x.updates.map((t) => `${t.id} ${t.desiredState}`)).sort(),
      removes: d.flatMap((x) => x.removes.map((t) => t.id)).sort(),
    });
    expect(key(parts)).toEqual(key([whole]));
    expect(whole.creates.length).toBeGreaterThan(3);
  });
});

/** Passes on the harness's store as they would be decided, without committing them. */
function decider(h: ReturnType<typeof harness>) {
  let ids = 0;
  return (o: PassOptions) => h.store.view((tx) => orchestrate(tx, h.clock.now, () => `x${++ids}`, o));
}

const emptyScope = () => ({
  services: new Set<string>(),
  slots: new Map<string, Set<number>>(),
  nodes: new Set<string>(),
  changedNodes: new Set<string>(),
  loose: new Set<string>(),
  tasks: new Set<string>(),
});

describe('a sweep of a service still growing (a new leader in the middle of a scale-up)', () => {
  it('goes on creating the missing slots while it sweeps the others', async () => {
    const h = harness();
    await h.put('node', node('n0'));
    await h.put('service', service('s', 'web', { replicas: 30 }));
    const decide = decider(h);
    const first = decide({ maxCreates: 20 });
    await h.store.update((tx) => applyDecisions(tx, first));
    expect(h.tasks('s')).toHaveLength(20);
    const whole = decide({ sweepFrom: Number.POSITIVE_INFINITY });
    const sweep = decide({ sweepFrom: 10, sweepSlice: 7 });
    expect(sweep.creates.map((t) => t.slot)).toEqual(whole.creates.map((t) => t.slot));
    expect(sweep.creates.map((t) => t.slot)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(sweep.carry).toBeDefined(); // 13 of the 20 slots left to sweep
  });
});

describe('a sweep and the changes of the same pass', () => {
  it('reconcile a slot in both once: a failed task is replaced once', async () => {
    const h = harness();
    await h.put('node', node('n0'));
    await h.put('service', service('s', 'web', { replicas: 20 }));
    await h.converge(['n0']);
    const decide = decider(h);
    const first = decide({ sweepFrom: 10, sweepSlice: 7 }); // slots 1–7; 8–14 next
    const failed = h.live('s').find((t) => t.slot === 10)!;
    await h.report(failed.id, TaskState.TASK_STATE_FAILED);
    const second = decide({
      scope: { ...emptyScope(), slots: new Map([['s', new Set([10])]]), tasks: new Set([failed.id]) },
      carry: first.carry,
      sweepSlice: 7,
    });
    expect(second.creates.map((t) => t.slot)).toEqual([10]);
  });
});
