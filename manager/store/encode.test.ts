// The entry a write transaction encodes from its objects' own encodings (updates as patches) applies, on a
// member that decodes it, exactly as the transaction's own objects apply on the member that proposed it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { StoreActionKind, Transaction } from '../../proto/gen/shoal/swarm/v1/store.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { applyTransaction } from './apply.js';
import { emptyTables, TABLE_NAMES } from './tables.js';
import { makeService, makeTask } from './testkit.js';
import { TablesReader, WriteTx } from './tx.js';

/** Tables holding service s0 and task t0 (version 3), as a store would after applying them. */
function tables() {
  const t = emptyTables();
  const meta = { version: 3, createdAt: 10, updatedAt: 20 };
  t.service.put(Object.freeze({ ...makeService('s0', 'web', 2), meta }));
  t.task.put(Object.freeze({ ...makeTask('t0', 's0', 1, 'n1'), meta }));
  return t;
}

const write = fc.oneof(
  fc.record({
    op: fc.constant('createTask' as const),
    slot: fc.nat(1000),
    node: fc.string({ maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('createService' as const), replicas: fc.nat(100_000), image: fc.string() }),
  fc.record({ op: fc.constant('createNode' as const), host: fc.string({ maxLength: 12 }) }),
  fc.record({ op: fc.constant('updateTask' as const), state: fc.constantFrom(...[0, 64, 192, 512, 640]) }),
  fc.record({ op: fc.constant('removeService' as const) }),
);

describe('encodeTransaction', () => {
  it('applies, decoded by any member, as the actions do for the member that proposed it', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 8 }), fc.nat(), (writes, ts) => {
        const tx = new WriteTx(tables(), 3);
        let n = 0;
        for (const w of writes) {
          const id = `x${n++}`;
          if (w.op === 'createTask') tx.create('task', makeTask(id, 's0', w.slot, w.node));
          else if (w.op === 'createService')
            tx.create('service', makeService(id, `svc-${id}`, w.replicas, w.image));
          else if (w.op === 'createNode')
            tx.create('node', Node.fromPartial({ id, description: { hostname: w.host } }));
          else if (w.op === 'updateTask') {
            const t = tx.get('task', 't0');
            if (t) tx.update('task', { ...t, status: { ...t.status!, state: w.state }, slot: t.slot + 1 });
          } else if (tx.get('service', 's0')) tx.remove('service', 's0');
        }
        const bytes = tx.encode(ts);
        const entry = Transaction.decode(bytes);
        const own = { actions: tx.actions(), timestamp: ts };
        const [a, b] = [tables(), tables()];
        const ra = applyTransaction(a, entry, 4);
        const rb = applyTransaction(b, own, 4);
        expect(ra.ok).toBe(rb.ok);
        for (const t of TABLE_NAMES) expect(a[t].all()).toEqual(b[t].all());
        // a status report travels as a patch; whole objects exactly as Transaction.encode writes them
        const patches = entry.actions.filter((x) => x.fields.length > 0);
        if (patches.length === 0)
          expect(Buffer.from(bytes).equals(Buffer.from(Transaction.encode(own).finish()))).toBe(true);
        else expect(patches.map((x) => x.fields)).toEqual([['slot', 'status']]);
      }),
    );
  });

  it('a member refuses a patch that is not an update or names no settable field, whole', () => {
    const t = tables();
    const task = new TablesReader(t, 3).get('task', 't0')!;
    const patch = (kind: StoreActionKind, fields: string[]) => ({
      timestamp: 1,
      actions: [{ kind, target: { $case: 'task' as const, value: task }, fields }],
    });
    for (const [kind, fields, why] of [
      [StoreActionKind.STORE_ACTION_KIND_CREATE, ['status'], /only an update/],
      [StoreActionKind.STORE_ACTION_KIND_UPDATE, ['nope'], /nope is not a field/],
      [StoreActionKind.STORE_ACTION_KIND_UPDATE, ['id'], /id is not a field/],
    ] as const) {
      const r = applyTransaction(t, patch(kind, [...fields]), 4);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(why);
    }
    expect(new TablesReader(t, 3).get('task', 't0')).toBe(task);
  });

  it('an update carries the stored meta and is checked against the version the caller read', () => {
    const t = tables();
    const read = new TablesReader(t, 3).get('task', 't0')!;
    const tx = new WriteTx(t, 3);
    tx.update('task', {
      ...read,
      desiredState: TaskState.TASK_STATE_SHUTDOWN,
      meta: { ...read.meta!, createdAt: 1 },
    });
    expect(tx.get('task', 't0')?.meta).toEqual({ version: 3, createdAt: 10, updatedAt: 20 });
    expect(() => tx.update('task', { ...read, meta: { ...read.meta!, version: 2 } })).toThrow(/version/);
  });
});
