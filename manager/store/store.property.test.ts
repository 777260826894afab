// Random sequences of write transactions, proposed concurrently and applied at random points, against a
// small model of the store's rules: the outcome of every transaction, the final state, the watch stream and
// a second member's state must all agree with it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../common/errors.js';
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { MemoryLog } from './memlog.js';
import { Store } from './store.js';
import { clone } from './tables.js';
import { makeService, makeTask } from './testkit.js';
import type { WriteTx } from './tx.js';

type T = 'service' | 'task';
type Op =
  | { op: 'create'; table: T; id: string; name: string }
  | { op: 'update'; table: T; id: string; name: string; stale: boolean }
  | { op: 'remove'; table: T; id: string };
interface TxPlan {
  ops: Op[];
  /** Apply everything proposed so far after proposing this one. */
  flushAfter: boolean;
}

const table = fc.constantFrom<T>('service', 'task');
const id = fc.constantFrom('a', 'b', 'c');
const name = fc.constantFrom('x', 'y', 'z');
// Updates dominate and are mostly based on what was read: concurrent updates of one object are the case
// that matters (and the hardest to hit at random).
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('create' as const), table, id, name }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('update' as const),
      table,
      id,
      name,
      stale: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), table, id }) },
);
// Mostly one-action transactions (one failing action sinks a whole batch), applied every few proposals.
const plan = fc.array(
  fc.record({
    ops: fc.oneof(fc.tuple(op), fc.array(op, { minLength: 2, maxLength: 4 })),
    flushAfter: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
  }),
  { minLength: 1, maxLength: 30, size: 'medium' },
);

/** Every id exists at the start (applied), so most generated updates and removes find their object. */
const SETUP: TxPlan = {
  ops: (['service', 'task'] as const).flatMap((table) =>
    (['a', 'b', 'c'] as const).map((id, i) => ({
      op: 'create' as const,
      table,
      id,
      name: ['x', 'y', 'z'][i],
    })),
  ),
  flushAfter: true,
};

// ---- the store side ----

const build = (t: T, id: string, name: string): Service | Task => {
  if (t === 'service') return makeService(id, name);
  const task = makeTask(id, name, 1);
  task.annotations = { name, labels: {} };
  return task;
};

function rename(t: T, o: Service | Task, name: string): void {
  if (t === 'service') (o as Service).spec!.annotations!.name = name;
  else {
    (o as Task).annotations!.name = name;
    (o as Task).serviceId = name;
  }
}

function run(tx: WriteTx, ops: Op[]): void {
  for (const o of ops) {
    if (o.op === 'create') tx.create(o.table, build(o.table, o.id, o.name) as Service);
    else if (o.op === 'remove') tx.remove(o.table, o.id);
    else {
      const cur = tx.get(o.table, o.id);
      if (!cur) {
        tx.update(o.table, build(o.table, o.id, o.name) as Service);
        continue;
      }
      const next = clone(o.table, cur as Service);
      rename(o.table, next, o.name);
      if (o.stale) next.meta = { version: (cur.meta?.version ?? 0) + 1, createdAt: 0, updatedAt: 0 };
      tx.update(o.table, next);
    }
  }
}

const nameOf = (t: T, o: Service | Task) =>
  t === 'service' ? ((o as Service).spec?.annotations?.name ?? '') : ((o as Task).annotations?.name ?? '');

// ---- the model ----

interface Row {
  name: string;
  version: number;
}
type State = Record<T, Map<string, Row>>;
interface Action {
  kind: 'create' | 'update' | 'remove';
  table: T;
  id: string;
  name: string;
  version: number;
}
type Outcome = 'ok' | string;

class Model {
  state: State = { service: new Map(), task: new Map() };
  private queue: { actions: Action[]; index: number; outcome: (o: Outcome) => void }[] = [];
  nextIndex = 1;

  /** Builds a transaction as WriteTx does; returns its outcome now (error), later (proposed), or 'ok' (empty). */
  propose(ops: Op[]): Promise<Outcome> | Outcome {
    const pending = new Map<string, Action>();
    const key = (t: T, id: string) => `${t}/${id}`;
    const get = (t: T, id: string): Row | undefined => {
      const p = pending.get(key(t, id));
      if (p) return p.kind === 'remove' ? undefined : { name: p.name, version: p.version };
      return this.state[t].get(id);
    };
    const holder = (t: T, name: string): string | undefined => {
      for (const p of pending.values())
        if (p.table === t && p.kind !== 'remove' && p.name === name) return p.id;
      for (const [id, r] of this.state[t])
        if (r.name === name) return pending.has(key(t, id)) ? undefined : id;
      return undefined;
    };
    const nameFree = (t: T, id: string, name: string) => t !== 'service' || (holder(t, name) ?? id) === id;
    for (const o of ops) {
      const k = key(o.table, o.id);
      if (o.op === 'create') {
        if (get(o.table, o.id) || pending.get(k)?.kind === 'remove') return 'conflict';
        if (!nameFree(o.table, o.id, o.name)) return 'conflict';
        pending.set(k, { kind: 'create', table: o.table, id: o.id, name: o.name, version: 0 });
      } else if (o.op === 'update') {
        const cur = get(o.table, o.id);
        if (!cur) return 'not_found';
        if (o.stale) return 'conflict';
        if (!nameFree(o.table, o.id, o.name)) return 'conflict';
        const kind = pending.get(k)?.kind ?? 'update';
        pending.set(k, { kind, table: o.table, id: o.id, name: o.name, version: cur.version });
      } else {
        const cur = get(o.table, o.id);
        if (!cur) return 'not_found';
        if (pending.get(k)?.kind === 'create') pending.delete(k);
        else {
          const stored = this.state[o.table].get(o.id)!;
          pending.set(k, {
            kind: 'remove',
            table: o.table,
            id: o.id,
            name: stored.name,
            version: stored.version,
          });
        }
      }
    }
    if (pending.size === 0) return 'ok';
    return new Promise((outcome) => {
      this.queue.push({ actions: [...pending.values()], index: this.nextIndex++, outcome });
    });
  }

  flush(): void {
    for (const { actions, index, outcome } of this.queue.splice(0)) outcome(this.apply(actions, index));
  }

  private apply(actions: Action[], index: number): Outcome {
    for (const a of actions) {
      const cur = this.state[a.table].get(a.id);
      if (a.kind === 'create' && cur) return 'conflict';
      if (a.kind !== 'create' && !cur) return 'not_found';
      if (a.kind !== 'create' && cur && cur.version !== a.version) return 'conflict';
    }
    const staged = new Map(actions.map((a) => [`${a.table}/${a.id}`, a]));
    for (const a of actions) {
      if (a.kind === 'remove' || a.table !== 'service') continue;
      for (const b of actions)
        if (b !== a && b.table === a.table && b.kind !== 'remove' && b.name === a.name) return 'conflict';
      for (const [id, r] of this.state.service) {
        if (id !== a.id && r.name === a.name && !staged.has(`service/${id}`)) return 'conflict';
      }
    }
    for (const a of actions) {
      if (a.kind === 'remove') this.state[a.table].delete(a.id);
      else this.state[a.table].set(a.id, { name: a.name, version: index });
    }
    return 'ok';
  }
}

const rows = (s: Store, t: T) =>
  s.view((tx) =>
    tx.list(t).map((o) => [o.id, { name: nameOf(t, o), version: o.meta?.version ?? 0 }] as const),
  );
const modelRows = (m: Model, t: T) => [...m.state[t]].sort(([a], [b]) => (a < b ? -1 : 1));

describe('store against a model (fast-check)', () => {
  it('agrees on every outcome, the final state, the watch stream and a second member’s bytes', async () => {
    await fc.assert(
      fc.asyncProperty(plan, async (txs: TxPlan[]) => {
        const log = new MemoryLog('manual');
        const store = new Store({ clock: () => 1000 });
        const follower = new Store();
        store.connect(log.addMember(store));
        follower.connect(log.addMember(follower));
        const watch = store.watch();
        const model = new Model();
        const got: Promise<Outcome>[] = [];
        const want: (Promise<Outcome> | Outcome)[] = [];
        for (const t of [SETUP, ...txs]) {
          got.push(
            store
              .update((tx) => run(tx, t.ops))
              .then(
                () => 'ok',
                (err) => (isShoalError(err) ? err.kind : `unexpected: ${err}`),
              ),
          );
          want.push(model.propose(t.ops));
          if (t.flushAfter) {
            log.flush();
            model.flush();
          }
        }
        log.flush();
        model.flush();
        expect(await Promise.all(got)).toEqual(await Promise.all(want));
        expect(store.appliedIndex).toBe(model.nextIndex - 1);
        for (const t of ['service', 'task'] as const) expect(rows(store, t)).toEqual(modelRows(model, t));
        for (const n of ['x', 'y', 'z']) {
          const byService = store.view((tx) => tx.find('task', 'service', n).map((o) => o.id));
          expect(byService).toEqual(
            modelRows(model, 'task')
              .filter(([, r]) => r.name === n)
              .map(([id]) => id),
          );
        }
        // Replaying the watch stream on an empty state gives the final state.
        const replay: State = { service: new Map(), task: new Map() };
        for (const e of watch.drain()) {
          const tb = e.table as T;
          if (e.kind === 'remove') replay[tb].delete(e.object.id);
          else
            replay[tb].set(e.object.id, {
              name: nameOf(tb, e.object as Task),
              version: e.object.meta!.version,
            });
        }
        for (const t of ['service', 'task'] as const) {
          expect([...replay[t]].sort(([a], [b]) => (a < b ? -1 : 1))).toEqual(modelRows(model, t));
        }
        expect(Buffer.from(follower.snapshot()).equals(Buffer.from(store.snapshot()))).toBe(true);
      }),
      {
        numRuns: 300,
        examples: [
          // Two updates of one object read at the same version, applied together: the second must lose.
          [
            [
              { ops: [{ op: 'create', table: 'service', id: 'a', name: 'x' }], flushAfter: true },
              {
                ops: [{ op: 'update', table: 'service', id: 'a', name: 'y', stale: false }],
                flushAfter: false,
              },
              {
                ops: [{ op: 'update', table: 'service', id: 'a', name: 'z', stale: false }],
                flushAfter: false,
              },
            ],
          ],
        ],
      },
    );
  });
});
