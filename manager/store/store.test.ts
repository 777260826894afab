import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import type { Service } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { StoreActionKind, StoreSnapshot, Transaction } from '../../proto/gen/shoal/swarm/v1/store.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { MemLogError, MemoryLog } from './memlog.js';
import { Store } from './store.js';
import { clone, slotKey } from './tables.js';
import {
  makeCluster,
  makeConfig,
  makeNetwork,
  makeNode,
  makeSecret,
  makeService,
  makeTask,
  storeOnMemoryLog,
} from './testkit.js';
import type { WriteTx } from './tx.js';

async function rejection(p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): ShoalError {
  try {
    fn();
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a throw');
}

describe('store CRUD', () => {
  it('creates, reads, updates and removes, with versions and times set by apply', async () => {
    const { store, clock } = storeOnMemoryLog();
    const created = await store.update((tx) => tx.create('service', makeService('s1', 'web', 3)));
    expect(created.index).toBe(1);
    expect(created.events).toHaveLength(1);
    const s = store.view((tx) => tx.get('service', 's1'));
    expect(s?.meta).toEqual({ version: 1, createdAt: clock.now, updatedAt: clock.now });
    expect(store.view((tx) => tx.getByName('service', 'web'))?.id).toBe('s1');
    expect(store.view((tx) => tx.lookup('service', 'web'))?.id).toBe('s1');
    expect(store.view((tx) => tx.lookup('service', 's1'))?.id).toBe('s1');

    const createdAt = clock.now;
    clock.now += 5000;
    const upd = await store.update((tx) => {
      const cur = clone('service', tx.get('service', 's1')!);
      cur.spec!.mode = { $case: 'replicated', value: { replicas: 5 } };
      cur.spec!.annotations!.name = 'web2';
      tx.update('service', cur);
      return 'done';
    });
    expect(upd.value).toBe('done');
    const after = store.view((tx) => tx.get('service', 's1'))!;
    expect(after.meta).toEqual({ version: 2, createdAt, updatedAt: clock.now });
    expect(after.spec?.mode).toEqual({ $case: 'replicated', value: { replicas: 5 } });
    expect(store.view((tx) => tx.getByName('service', 'web'))).toBeUndefined();
    expect(store.view((tx) => tx.getByName('service', 'web2'))?.id).toBe('s1');
    expect(upd.events[0]).toMatchObject({ kind: 'update', table: 'service', index: 2 });
    expect(upd.events[0].previous?.meta?.version).toBe(1);

    const rm = await store.update((tx) => tx.remove('service', 's1'));
    expect(rm.events[0]).toMatchObject({ kind: 'remove', table: 'service', index: 3 });
    expect(store.view((tx) => tx.list('service'))).toEqual([]);
    expect(store.appliedIndex).toBe(3);
  });

  it('stores every table, lists ordered by id', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => {
      tx.create('cluster', makeCluster('c0'));
      tx.create('node', makeNode('n2', 'host-a'));
      tx.create('node', makeNode('n1', 'host-a'));
      tx.create('network', makeNetwork('net1', 'appnet'));
      tx.create('secret', makeSecret('sec1', 's1'));
      tx.create('config', makeConfig('cfg1', 'c1'));
      tx.create('service', makeService('b', 'web'));
      tx.create('service', makeService('a', 'db'));
    });
    store.view((tx) => {
      expect(tx.list('service').map((s) => s.id)).toEqual(['a', 'b']);
      expect(tx.list('node').map((n) => n.id)).toEqual(['n1', 'n2']);
      // Hostnames are not unique.
      expect(tx.find('node', 'hostname', 'host-a').map((n) => n.id)).toEqual(['n1', 'n2']);
      expect(tx.getByName('network', 'appnet')?.id).toBe('net1');
      expect(Buffer.from(tx.getByName('secret', 's1')!.sealed!.ciphertext).toString()).toBe('shh');
      expect(tx.getByName('config', 'c1')?.id).toBe('cfg1');
      expect(tx.get('cluster', 'c0')?.spec?.orchestration?.taskHistoryRetentionLimit).toBe(5);
      expect(() => tx.getByName('node', 'host-a')).toThrow(/not unique/);
    });
  });

  it('indexes tasks by service, node, slot and desired state, and keeps the indexes current', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => {
      tx.create('task', makeTask('t1', 's1', 1, 'n1'));
      tx.create('task', makeTask('t2', 's1', 2, 'n2'));
      tx.create('task', makeTask('t3', 's2', 1, 'n1', TaskState.TASK_STATE_SHUTDOWN));
      tx.create('task', makeTask('t4', 's1', 1, '', TaskState.TASK_STATE_READY));
    });
    const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
    store.view((tx) => {
      expect(ids(tx.find('task', 'service', 's1'))).toEqual(['t1', 't2', 't4']);
      expect(ids(tx.find('task', 'node', 'n1'))).toEqual(['t1', 't3']);
      expect(ids(tx.find('task', 'slot', slotKey('s1', 1)))).toEqual(['t1', 't4']);
      expect(ids(tx.find('task', 'desiredState', TaskState.TASK_STATE_RUNNING))).toEqual(['t1', 't2']);
      expect(ids(tx.findUnordered('task', 'service', 's1')).sort()).toEqual(['t1', 't2', 't4']);
    });
    await store.update((tx) => {
      const t = clone('task', tx.get('task', 't4')!);
      t.nodeId = 'n2';
      t.desiredState = TaskState.TASK_STATE_RUNNING;
      tx.update('task', t);
      tx.remove('task', 't1');
    });
    store.view((tx) => {
      expect(ids(tx.find('task', 'node', 'n1'))).toEqual(['t3']);
      expect(ids(tx.find('task', 'node', 'n2'))).toEqual(['t2', 't4']);
      expect(ids(tx.find('task', 'slot', slotKey('s1', 1)))).toEqual(['t4']);
      expect(ids(tx.find('task', 'desiredState', TaskState.TASK_STATE_RUNNING))).toEqual(['t2', 't4']);
      expect(tx.find('task', 'desiredState', TaskState.TASK_STATE_READY)).toEqual([]);
    });
  });

  it('hands out frozen objects and never aliases the caller’s', async () => {
    const { store } = storeOnMemoryLog();
    const mine = makeService('s1', 'web');
    await store.update((tx) => tx.create('service', mine));
    mine.spec!.annotations!.name = 'changed-after-create';
    const stored = store.view((tx) => tx.get('service', 's1'))!;
    expect(stored.spec?.annotations?.name).toBe('web');
    expect(Object.isFrozen(stored.spec?.annotations)).toBe(true);
    expect(() => {
      stored.spec!.annotations!.name = 'x';
    }).toThrow(TypeError);
    const copy = clone('service', stored);
    copy.spec!.annotations!.name = 'x';
    expect(copy.spec?.annotations?.name).toBe('x');
  });

  it('objects created with one frozen part share one copy of it; unfrozen parts are copied each time', async () => {
    const { store, log } = storeOnMemoryLog();
    const follower = new Store();
    follower.connect(log.addMember(follower));
    await store.update((tx) => tx.create('service', makeService('s1', 'web')));
    const svc = store.view((tx) => tx.get('service', 's1'))!;
    const template = svc.spec!.taskTemplate!; // frozen, as the orchestrator hands it to every new task
    const task = (id: string, spec: typeof template) => ({
      ...makeTask(id, 's1', Number(id.slice(1))),
      spec,
    });
    await store.update((tx) => {
      tx.create('task', task('t1', template));
      tx.create('task', task('t2', template));
    });
    await store.update((tx) => tx.create('task', task('t3', template)));
    const mutable = structuredClone(template);
    await store.update((tx) => tx.create('task', task('t4', mutable)));
    const [t1, t2, t3, t4] = store.view((tx) => tx.list('task'));
    expect(t1.spec).toEqual(template);
    expect(t1.spec).not.toBe(template); // the store's own copy
    expect(t2.spec).toBe(t1.spec);
    expect(t3.spec).toBe(t1.spec);
    expect(t4.spec).toEqual(template);
    expect(t4.spec).not.toBe(t1.spec);
    mutable.containerSpec!.image = 'changed-after-create';
    expect(t4.spec?.containerSpec?.image).toBe('bb:latest');
    expect(Object.isFrozen(t1.spec?.containerSpec)).toBe(true);
    expect(Buffer.from(follower.snapshot()).equals(Buffer.from(store.snapshot()))).toBe(true);
  });

  it('an update shares the fields it did not change with the stored object, and copies the rest', async () => {
    const { store, log } = storeOnMemoryLog();
    const follower = new Store();
    follower.connect(log.addMember(follower));
    const old = makeService('s1', 'web', 1, 'bb:0').spec;
    await store.update((tx) => tx.create('service', { ...makeService('s1', 'web'), previousSpec: old }));
    const before = store.view((tx) => tx.get('service', 's1'))!;
    const labels = { ...before.spec!.annotations!.labels, tier: 'front' };
    const edited = { ...before, spec: { ...before.spec!, annotations: { name: 'web', labels } } };
    await store.update((tx) => tx.update('service', edited));
    const after = store.view((tx) => tx.get('service', 's1'))!;
    expect(after.spec?.annotations?.labels).toEqual({ app: 'web', tier: 'front' });
    expect(after.spec).not.toBe(edited.spec); // the caller's changed part is copied, frozen
    expect(Object.isFrozen(after.spec?.annotations?.labels)).toBe(true);
    labels.tier = 'changed-after-update';
    expect(after.spec?.annotations?.labels.tier).toBe('front');
    // an unchanged part: the stored object itself
    expect(after.previousSpec?.taskTemplate?.containerSpec?.image).toBe('bb:0');
    expect(after.previousSpec).toBe(before.previousSpec);
    // a member that decoded the entry holds the same state
    expect(Buffer.from(follower.snapshot()).equals(Buffer.from(store.snapshot()))).toBe(true);
  });

  it('owns meta: a create ignores the caller’s, an update keeps created_at', async () => {
    const { store, clock } = storeOnMemoryLog();
    const s = makeService('s1', 'web');
    s.meta = { version: 77, createdAt: 1, updatedAt: 2 };
    await store.update((tx) => tx.create('service', s));
    expect(store.view((tx) => tx.get('service', 's1'))?.meta).toEqual({
      version: 1,
      createdAt: clock.now,
      updatedAt: clock.now,
    });
  });

  it('starts clusters with Docker’s defaults', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => tx.create('cluster', makeCluster('c0')));
    const spec = store.view((tx) => tx.get('cluster', 'c0'))!.spec!;
    expect(spec.annotations?.name).toBe('default');
    expect(spec.orchestration?.taskHistoryRetentionLimit).toBe(5);
    expect(spec.dispatcher?.heartbeatPeriod).toEqual({ seconds: 5, nanos: 0 });
    // 7776000000000000 ns in `docker info`.
    expect(spec.caConfig?.nodeCertExpiry?.seconds).toBe(7_776_000);
    expect(spec.raft).toMatchObject({
      snapshotInterval: 10_000,
      logEntriesForSlowFollowers: 500,
      electionTick: 10,
    });
  });

  it('makes ids with the injected generator, and Docker-like ones by default', () => {
    const { store } = storeOnMemoryLog();
    expect(store.newId()).toBe('id1');
    expect(new Store().newId()).toMatch(/^[0-9a-z]{25}$/);
  });
});

describe('store transactions: validation', () => {
  it('refuses a create of an existing id or a taken name, naming the object', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => tx.create('service', makeService('s1', 'web')));
    const dupId = await rejection(store.update((tx) => tx.create('service', makeService('s1', 'other'))));
    expect(dupId.kind).toBe('conflict');
    expect(dupId.message).toContain('service s1 already exists');
    const dupName = await rejection(store.update((tx) => tx.create('service', makeService('s2', 'web'))));
    expect(dupName.kind).toBe('conflict');
    expect(dupName.field).toBe('spec.annotations.name');
    expect(dupName.message).toContain('"web" is already in use by service s1');
    // Names are per table: a network may be called like a service.
    await store.update((tx) => tx.create('network', makeNetwork('n1', 'web')));
    expect(store.appliedIndex).toBe(2);
  });

  it('refuses objects without an id or (where names are unique) a name', async () => {
    const { store } = storeOnMemoryLog();
    const noId = await rejection(store.update((tx) => tx.create('service', makeService('', 'web'))));
    expect(noId).toMatchObject({ kind: 'invalid_argument', field: 'id' });
    const noName = await rejection(store.update((tx) => tx.create('secret', makeSecret('x', ''))));
    expect(noName).toMatchObject({ kind: 'invalid_argument', field: 'spec.annotations.name' });
    // Tasks and nodes need no name.
    await store.update((tx) => tx.create('node', makeNode('n1', '')));
    const bad = await rejection(
      store.update((tx) => tx.create('service', { id: 's', spec: 42 } as unknown as Service)),
    );
    expect(bad.kind).toBe('invalid_argument');
    expect(store.appliedIndex).toBe(1);
  });

  it('refuses an update based on a stale version, and updates/removes of missing objects', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => tx.create('service', makeService('s1', 'web')));
    const stale = clone(
      'service',
      store.view((tx) => tx.get('service', 's1')!),
    );
    await store.update((tx) => tx.update('service', clone('service', tx.get('service', 's1')!)));
    const err = await rejection(store.update((tx) => tx.update('service', stale)));
    expect(err).toMatchObject({ kind: 'conflict', field: 'meta.version' });
    expect(err.message).toContain('service s1');
    expect(err.message).toContain('version 1');
    expect(err.message).toContain('stored version is 2');

    const missing = await rejection(store.update((tx) => tx.update('service', makeService('nope', 'n'))));
    expect(missing).toMatchObject({ kind: 'not_found', message: 'service nope not found' });
    const rmMissing = await rejection(store.update((tx) => tx.remove('task', 'nope')));
    expect(rmMissing.kind).toBe('not_found');
    expect(store.appliedIndex).toBe(2);
  });

  it('reads its own writes, collapses several writes to one object, and proposes nothing for no change', async () => {
    const { store, log } = storeOnMemoryLog();
    await store.update((tx) => tx.create('service', makeService('s0', 'old')));
    const r = await store.update((tx) => {
      tx.create('service', makeService('s1', 'web'));
      expect(tx.getByName('service', 'web')?.id).toBe('s1');
      expect(tx.list('service').map((s) => s.id)).toEqual(['s0', 's1']);
      const s1 = clone('service', tx.get('service', 's1')!);
      s1.spec!.annotations!.name = 'web1';
      tx.update('service', s1);
      tx.remove('service', 's0');
      expect(tx.get('service', 's0')).toBeUndefined();
      expect(tx.getByName('service', 'old')).toBeUndefined();
      tx.create('task', makeTask('t1', 's1', 1));
      expect(tx.find('task', 'service', 's1').map((t) => t.id)).toEqual(['t1']);
      tx.create('task', makeTask('t2', 's1', 2));
      // Unordered reads see the transaction's own writes too.
      expect(new Set(tx.findUnordered('task', 'service', 's1').map((t) => t.id))).toEqual(
        new Set(['t1', 't2']),
      );
      tx.remove('task', 't2');
      expect(tx.findUnordered('task', 'service', 's1').map((t) => t.id)).toEqual(['t1']);
      return tx.actions().map((a) => [a.kind, a.target?.value.id]);
    });
    expect(r.value).toEqual([
      [StoreActionKind.STORE_ACTION_KIND_CREATE, 's1'],
      [StoreActionKind.STORE_ACTION_KIND_REMOVE, 's0'],
      [StoreActionKind.STORE_ACTION_KIND_CREATE, 't1'],
    ]);
    expect(r.events.map((e) => [e.kind, e.object.id])).toEqual([
      ['create', 's1'],
      ['remove', 's0'],
      ['create', 't1'],
    ]);
    expect(store.view((tx) => tx.get('service', 's1'))?.spec?.annotations?.name).toBe('web1');

    const before = log.lastIndex;
    const none = await store.update((tx) => tx.list('service').length);
    expect(none).toEqual({ index: store.appliedIndex, value: 1, events: [] });
    expect(log.lastIndex).toBe(before);
  });

  it('lets one batch rename objects through each other’s names', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => {
      tx.create('service', makeService('a', 'x'));
      tx.create('service', makeService('b', 'y'));
    });
    await store.update((tx) => {
      const a = clone('service', tx.get('service', 'a')!);
      a.spec!.annotations!.name = 'tmp';
      tx.update('service', a);
      const b = clone('service', tx.get('service', 'b')!);
      b.spec!.annotations!.name = 'x';
      tx.update('service', b);
      const a2 = clone('service', tx.get('service', 'a')!);
      a2.spec!.annotations!.name = 'y';
      tx.update('service', a2);
    });
    store.view((tx) => {
      expect(tx.getByName('service', 'x')?.id).toBe('b');
      expect(tx.getByName('service', 'y')?.id).toBe('a');
      expect(tx.getByName('service', 'tmp')).toBeUndefined();
    });
  });

  it('rejects what the callback throws without proposing', async () => {
    const { store, log } = storeOnMemoryLog();
    await expect(
      store.update((tx) => {
        tx.create('service', makeService('s1', 'web'));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(log.lastIndex).toBe(0);
    expect(store.view((tx) => tx.list('service'))).toEqual([]);
  });
});

describe('store transactions: concurrency and all-or-nothing', () => {
  it('of two concurrent updates of one version, one wins and the other rejects without a trace', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const c = store.update((tx) => tx.create('service', makeService('s1', 'web', 1)));
    log.flush();
    await c;
    const scale = (n: number) =>
      store.update((tx) => {
        const s = clone('service', tx.get('service', 's1')!);
        s.spec!.mode = { $case: 'replicated', value: { replicas: n } };
        tx.update('service', s);
      });
    // Both read version 1 before either applies.
    const first = scale(3);
    const second = scale(7);
    log.flush();
    const [r1, r2] = await Promise.allSettled([first, second]);
    expect(r1.status).toBe('fulfilled');
    expect(r2.status).toBe('rejected');
    const err = (r2 as PromiseRejectedResult).reason as ShoalError;
    expect(err).toMatchObject({ kind: 'conflict', field: 'meta.version' });
    const s = store.view((tx) => tx.get('service', 's1'))!;
    expect(s.spec?.mode).toEqual({ $case: 'replicated', value: { replicas: 3 } });
    expect(s.meta?.version).toBe(2);
    expect(store.appliedIndex).toBe(3);
  });

  it('two concurrent creates of one name: the second is refused at apply', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const a = store.update((tx) => tx.create('network', makeNetwork('n1', 'appnet')));
    const b = store.update((tx) => tx.create('network', makeNetwork('n2', 'appnet')));
    log.flush();
    await a;
    expect((await rejection(b)).kind).toBe('conflict');
    expect(store.view((tx) => tx.list('network')).map((n) => n.id)).toEqual(['n1']);
  });

  it('a batch with one stale action applies nothing (another leader’s write committed first)', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const setup = store.update((tx) => {
      tx.create('service', makeService('s1', 'web'));
      tx.create('task', makeTask('t1', 's1', 1));
    });
    log.flush();
    await setup;
    // Another leader's write to t1 is in the log, not yet applied here, when the batch is built.
    const other = clone('task', store.view((tx) => tx.get('task', 't1'))!);
    other.nodeId = 'n9';
    log.append(
      Transaction.encode({
        timestamp: 1,
        actions: [
          {
            kind: StoreActionKind.STORE_ACTION_KIND_UPDATE,
            target: { $case: 'task', value: other },
            fields: [],
          },
        ],
      }).finish(),
    );
    const watch = store.watch();
    const batch = store.update((tx) => {
      tx.create('task', makeTask('t2', 's1', 2));
      tx.create('service', makeService('s2', 'api'));
      const t1 = clone('task', tx.get('task', 't1')!);
      t1.desiredState = TaskState.TASK_STATE_SHUTDOWN;
      tx.update('task', t1);
    });
    log.flush();
    const err = await rejection(batch);
    expect(err).toMatchObject({ kind: 'conflict', field: 'meta.version' });
    expect(err.message).toContain('task t1');
    store.view((tx) => {
      expect(tx.get('task', 't2')).toBeUndefined();
      expect(tx.get('service', 's2')).toBeUndefined();
      expect(tx.get('task', 't1')?.desiredState).toBe(TaskState.TASK_STATE_RUNNING);
      expect(tx.get('task', 't1')?.nodeId).toBe('n9');
    });
    // Only the foreign write produced events; the failed entry still advanced the applied index.
    expect(watch.drain().map((e) => [e.kind, e.object.id, e.index])).toEqual([['update', 't1', 2]]);
    expect(store.appliedIndex).toBe(3);
  });

  it('an entry changing one object twice, or with no object, is refused whole', () => {
    const store = new Store();
    const log = new MemoryLog('sync');
    store.connect(log.addMember(store));
    const s = makeService('s1', 'web');
    const create = {
      kind: StoreActionKind.STORE_ACTION_KIND_CREATE,
      target: { $case: 'service' as const, value: s },
      fields: [],
    };
    const r1 = store.apply(Transaction.encode({ timestamp: 1, actions: [create, create] }).finish(), 1);
    expect(r1.ok).toBe(false);
    const r2 = store.apply(
      Transaction.encode({
        timestamp: 1,
        actions: [{ kind: StoreActionKind.STORE_ACTION_KIND_CREATE, target: undefined, fields: [] }],
      }).finish(),
      2,
    );
    expect(r2.ok).toBe(false);
    const r3 = store.apply(
      Transaction.encode({ timestamp: 1, actions: [{ ...create, kind: 99 as StoreActionKind }] }).finish(),
      3,
    );
    expect(!r3.ok && r3.error.field).toBe('actions[0].kind');
    const r4 = store.apply(new Uint8Array([0xff, 0xff, 0xff]), 4);
    expect(!r4.ok && r4.error.kind).toBe('invalid_argument');
    expect(store.view((tx) => tx.list('service'))).toEqual([]);
    expect(store.appliedIndex).toBe(4);
  });
});

describe('store and the replicated log', () => {
  it('refuses writes when not the leader, and wraps the log’s failures as unavailable', async () => {
    const { store, log } = storeOnMemoryLog();
    log.failNextProposal('injected');
    const failed = await rejection(store.update((tx) => tx.create('service', makeService('s1', 'web'))));
    expect(failed.kind).toBe('unavailable');
    expect(failed.cause).toBeInstanceOf(MemLogError);
    log.setLeader(undefined);
    const notLeader = await rejection(store.update((tx) => tx.create('service', makeService('s1', 'web'))));
    expect(notLeader.kind).toBe('unavailable');
    expect(notLeader.message).toMatch(/^The swarm does not have a leader/);
    // Reads keep working.
    expect(store.view((tx) => tx.list('service'))).toEqual([]);
    log.setLeader(0);
    await store.update((tx) => tx.create('service', makeService('s1', 'web')));
    const unconnected = new Store();
    expect(
      (await rejection(unconnected.update((tx) => tx.create('service', makeService('a', 'b'))))).kind,
    ).toBe('unavailable');
  });

  it('leadership lost mid-proposal: outcome unknown (the entry may still apply) or dropped (it never does)', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const kept = store.update((tx) => tx.create('service', makeService('s1', 'web')));
    log.setLeader(0);
    const e1 = await rejection(kept);
    expect(e1.kind).toBe('unavailable');
    expect((e1.cause as MemLogError).reason).toBe('outcome_unknown');
    log.flush();
    expect(store.view((tx) => tx.get('service', 's1'))).toBeDefined();

    const dropped = store.update((tx) => tx.create('service', makeService('s2', 'api')));
    log.setLeader(0, { dropPending: true });
    const e2 = await rejection(dropped);
    expect((e2.cause as MemLogError).reason).toBe('dropped');
    log.flush();
    expect(store.view((tx) => tx.get('service', 's2'))).toBeUndefined();
  });

  it('serves linearizable reads through the read barrier, and refuses them without leadership', async () => {
    const { store, log } = storeOnMemoryLog();
    await store.update((tx) => tx.create('service', makeService('s1', 'web')));
    expect(await store.readView((tx) => tx.list('service').map((s) => s.id))).toEqual(['s1']);
    log.setLeader(undefined);
    expect((await rejection(store.readView((tx) => tx.list('service')))).kind).toBe('unavailable');
  });

  it('refuses async callbacks and writes through a transaction kept after it was proposed', async () => {
    const { store, log } = storeOnMemoryLog();
    const err = await rejection(
      store.update(async (tx) => {
        tx.create('service', makeService('s1', 'web'));
      }),
    );
    expect(err.kind).toBe('internal');
    expect(log.lastIndex).toBe(0);
    let kept: WriteTx | undefined;
    await store.update((tx) => {
      kept = tx;
      tx.create('service', makeService('s1', 'web'));
    });
    expect(() => kept?.create('service', makeService('s2', 'api'))).toThrow(/already been proposed/);
    expect(store.view((tx) => tx.list('service')).map((s) => s.id)).toEqual(['s1']);
  });

  it('works with a log that applies on a later turn of the event loop', async () => {
    const { store } = storeOnMemoryLog('async');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.update((tx) => tx.create('task', makeTask(`t${i}`, 's1', i + 1))),
      ),
    );
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(store.view((tx) => tx.find('task', 'service', 's1'))).toHaveLength(20);
  });
});

describe('store watches', () => {
  it('delivers events in apply order, filtered by table, kind and predicate', async () => {
    const { store } = storeOnMemoryLog();
    const all = store.watch();
    const tasks = store.watch({ table: 'task' });
    const removals = store.watch({ kind: 'remove' });
    const running = store.watch({
      table: 'task',
      predicate: (e) => e.object.desiredState === TaskState.TASK_STATE_RUNNING,
    });
    await store.update((tx) => {
      tx.create('service', makeService('s1', 'web'));
      tx.create('task', makeTask('t1', 's1', 1));
      tx.create('task', makeTask('t2', 's1', 2, '', TaskState.TASK_STATE_SHUTDOWN));
    });
    await store.update((tx) => tx.remove('task', 't1'));
    await store.update((tx) => tx.create('network', makeNetwork('n1', 'appnet')));
    expect(all.drain().map((e) => `${e.index}:${e.kind}:${e.object.id}`)).toEqual([
      '1:create:s1',
      '1:create:t1',
      '1:create:t2',
      '2:remove:t1',
      '3:create:n1',
    ]);
    expect(tasks.drain().map((e) => e.object.id)).toEqual(['t1', 't2', 't1']);
    expect(removals.drain().map((e) => e.object.id)).toEqual(['t1']);
    expect(running.drain().map((e) => `${e.kind}:${e.object.id}`)).toEqual(['create:t1', 'remove:t1']);
    tasks.close();
    await store.update((tx) => tx.create('task', makeTask('t3', 's1', 3)));
    expect(tasks.drain()).toEqual([]);
    expect(all.drain()).toHaveLength(1);
  });

  it('serves async iteration, ending when closed', async () => {
    const { store } = storeOnMemoryLog('async');
    const w = store.watch({ table: 'service' });
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const e of w) {
        seen.push(e.object.id);
        if (seen.length === 3) break;
      }
    })();
    for (const id of ['a', 'b', 'c']) await store.update((tx) => tx.create('service', makeService(id, id)));
    await consumer;
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(w.closed).toBe(true);
  });

  it('viewAndWatch loses no event between the view and the subscription', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++)
      pending.push(store.update((tx) => tx.create('task', makeTask(`a${i}`, 's', i + 1))));
    log.flush();
    // Proposed but not yet applied when the view is taken: must arrive as events, not be missed or doubled.
    for (let i = 0; i < 10; i++)
      pending.push(store.update((tx) => tx.create('task', makeTask(`b${i}`, 's', i + 11))));
    const { value, index, watch } = store.viewAndWatch((tx) => tx.list('task').map((t) => t.id), {
      table: 'task',
    });
    expect(index).toBe(10);
    log.flush();
    await Promise.all(pending);
    const replay = new Set(value);
    for (const e of watch.drain()) {
      expect(e.index).toBeGreaterThan(index);
      expect(replay.has(e.object.id)).toBe(false);
      replay.add(e.object.id);
    }
    expect([...replay].sort()).toEqual(store.view((tx) => tx.list('task').map((t) => t.id)).sort());
  });

  it('closes a watcher that falls too far behind, and one whose predicate throws, without disturbing apply', async () => {
    const { store } = storeOnMemoryLog();
    const slow = store.watch({}, { limit: 2 });
    const broken = store.watch({
      predicate: () => {
        throw new Error('bug');
      },
    });
    for (const id of ['a', 'b', 'c']) await store.update((tx) => tx.create('service', makeService(id, id)));
    expect(store.view((tx) => tx.list('service'))).toHaveLength(3);
    expect(slow.closed).toBe(true);
    expect(() => slow.drain()).toThrow(/fell more than 2 events behind/);
    await expect(slow.next()).rejects.toMatchObject({ kind: 'unavailable' });
    expect(broken.closed).toBe(true);
    await expect(broken.next()).rejects.toMatchObject({ kind: 'internal' });
  });
});

describe('store snapshots', () => {
  async function populated() {
    const env = storeOnMemoryLog();
    const { store, clock } = env;
    await store.update((tx) => {
      tx.create('cluster', makeCluster('c0'));
      tx.create('node', makeNode('n1', 'vm1'));
      tx.create('network', makeNetwork('net1', 'appnet'));
      tx.create('secret', makeSecret('sec1', 's1', 'top secret'));
      tx.create('config', makeConfig('cfg1', 'c1'));
    });
    clock.now += 1000;
    await store.update((tx) => {
      tx.create('service', makeService('s1', 'web', 2));
      tx.create('task', makeTask('t1', 's1', 1, 'n1'));
      tx.create('task', makeTask('t2', 's1', 2, 'n1'));
    });
    await store.update((tx) => {
      const t = clone('task', tx.get('task', 't2')!);
      t.status = {
        ...t.status!,
        state: TaskState.TASK_STATE_RUNNING,
        containerStatus: { containerId: 'abc', pid: 42, exitCode: 0 },
      };
      tx.update('task', t);
    });
    return env;
  }

  it('round-trips the whole state, byte for byte, with its format version and applied index', async () => {
    const { store } = await populated();
    const snap = store.snapshot();
    const decoded = StoreSnapshot.decode(snap);
    expect(decoded.formatVersion).toBe(1);
    expect(decoded.appliedIndex).toBe(3);
    const copy = new Store();
    copy.restore(snap);
    expect(copy.snapshot()).toEqual(snap);
    expect(copy.appliedIndex).toBe(3);
    for (const table of ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const) {
      expect(copy.view((tx) => tx.list(table))).toEqual(store.view((tx) => tx.list(table)));
    }
    // Indexes are rebuilt.
    expect(copy.view((tx) => tx.find('task', 'node', 'n1')).map((t) => t.id)).toEqual(['t1', 't2']);
    expect(copy.view((tx) => tx.getByName('secret', 's1'))?.id).toBe('sec1');
  });

  it('snapshotLater: the bytes of snapshot() at the call, made in slices while the state moves on', async () => {
    const { store } = await populated();
    await store.update((tx) => {
      for (let i = 0; i < 4500; i++)
        tx.create('task', makeTask(`x${String(i).padStart(5, '0')}`, 's1', 3 + i));
    });
    const before = store.snapshot();
    // The hand-framed encoder writes what the generated codec writes.
    expect(
      Buffer.from(StoreSnapshot.encode(StoreSnapshot.decode(before)).finish()).equals(Buffer.from(before)),
    ).toBe(true);
    let turns = 0;
    const sliced = new Store({
      yieldTurn: () => {
        turns++;
        return new Promise((r) => setImmediate(r));
      },
    });
    sliced.restore(before);
    expect(Buffer.from(await sliced.snapshotLater()).equals(Buffer.from(before))).toBe(true);
    expect(turns).toBeGreaterThanOrEqual(2); // 4,500 tasks and a few others: three slices

    // Changes applied while it is being encoded (after its first slice) are not in it.
    const again = store.snapshotLater();
    await store.update((tx) => {
      tx.remove('task', 'x00000');
      tx.create('task', makeTask('y1', 's1', 9999));
    });
    expect(Buffer.from(await again).equals(Buffer.from(before))).toBe(true);
    expect(Buffer.from(await store.snapshotLater()).equals(Buffer.from(store.snapshot()))).toBe(true);
  });

  it('tells watchers what a restore changed', async () => {
    const { store } = await populated();
    const snap = store.snapshot();
    const other = storeOnMemoryLog().store;
    await other.update((tx) => {
      tx.create('service', makeService('zz', 'gone'));
      tx.create('task', makeTask('t1', 's1', 1, 'n1'));
    });
    const w = other.watch();
    other.restore(snap);
    const events = w.drain().map((e) => `${e.kind}:${e.table}:${e.object.id}`);
    expect(events).toContain('remove:service:zz');
    expect(events).toContain('update:task:t1');
    expect(events).toContain('create:task:t2');
    expect(events).toContain('create:cluster:c0');
    expect(events.filter((e) => e.startsWith('remove'))).toHaveLength(1);
  });

  it('refuses a snapshot of another format or that does not decode, keeping its state', async () => {
    const { store } = await populated();
    const before = store.snapshot();
    const future = StoreSnapshot.encode({ ...StoreSnapshot.decode(before), formatVersion: 2 }).finish();
    expect(thrown(() => store.restore(future))).toMatchObject({
      kind: 'invalid_argument',
      field: 'format_version',
    });
    expect(thrown(() => store.restore(new Uint8Array([0x0a, 0xff]))).kind).toBe('invalid_argument');
    expect(store.snapshot()).toEqual(before);
  });
});

describe('store determinism', () => {
  it('members of an asynchronously applying log converge to the same bytes', async () => {
    const log = new MemoryLog('async');
    const stores = [new Store({ clock: () => 5 }), new Store({ clock: () => 6 })];
    for (const s of stores) s.connect(log.addMember(s));
    await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        stores[0].update((tx) => {
          tx.create('service', makeService(`s${i}`, `name${i % 7}`));
          tx.create('task', makeTask(`t${i}`, `s${i}`, 1));
        }),
      ),
    );
    expect(stores[0].view((tx) => tx.list('service'))).toHaveLength(7);
    expect(stores[1].appliedIndex).toBe(30);
    expect(Buffer.from(stores[1].snapshot()).equals(Buffer.from(stores[0].snapshot()))).toBe(true);
  });

  it('members applying the same entries hold byte-identical state, whatever their own clocks', async () => {
    const log = new MemoryLog('sync');
    const stores = [0, 1, 2].map((i) => new Store({ clock: () => 1_000_000 * (i + 1) }));
    const faces = stores.map((s) => log.addMember(s));
    for (const [i, s] of stores.entries()) s.connect(faces[i]);
    const leader = stores[0];
    await leader.update((tx) => {
      tx.create('service', makeService('s1', 'web', 3));
      for (let slot = 1; slot <= 3; slot++) tx.create('task', makeTask(`t${slot}`, 's1', slot));
    });
    await leader.update((tx) => {
      const s = clone('service', tx.get('service', 's1')!);
      s.spec!.annotations!.labels = { b: '2', a: '1', '10': 'x' };
      tx.update('service', s);
      tx.remove('task', 't3');
    });
    await rejection(leader.update((tx) => tx.create('service', makeService('s2', 'web'))));
    // A member joining late starts from a snapshot and follows the log from there.
    const late = new Store();
    late.connect(log.addMember(late));
    log.setLeader(1);
    await stores[1].update((tx) => {
      const t = clone('task', tx.get('task', 't1')!);
      t.nodeId = 'n1';
      tx.update('task', t);
    });
    const snaps = [...stores, late].map((s) => s.snapshot());
    for (const s of snaps.slice(1)) expect(Buffer.from(s).equals(Buffer.from(snaps[0]))).toBe(true);
    // Times come from the proposer's clock, carried in the entry.
    expect(late.view((tx) => tx.get('task', 't1'))?.meta?.updatedAt).toBe(2_000_000);
    expect(late.view((tx) => tx.get('task', 't2'))?.meta?.updatedAt).toBe(1_000_000);
  });
});
