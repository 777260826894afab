// The entry a write transaction encodes from its objects' own encodings is byte for byte what
// Transaction.encode makes of its actions, and decodes back to the objects the proposing member applies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { Transaction } from '../../proto/gen/shoal/swarm/v1/store.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { emptyTables } from './tables.js';
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
  it('equals Transaction.encode of the actions for any mix of writes and timestamps', () => {
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
            if (t) tx.update('task', { ...t, status: { ...t.status!, state: w.state } });
          } else if (tx.get('service', 's0')) tx.remove('service', 's0');
        }
        const bytes = tx.encode(ts);
        const expected = Transaction.encode({ actions: tx.actions(), timestamp: ts }).finish();
        expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
        expect(Transaction.decode(bytes)).toEqual({ actions: tx.actions(), timestamp: ts });
      }),
    );
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
