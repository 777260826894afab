// The orchestrator and scheduler loops over the store on the in-memory replicated log, with the allocator's
// stand-in between them and a fake clock.
import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { allocatorLoop } from '../allocator/runner.js';
import { runWhileLeader } from '../raft/replicated.js';
import { schedulerLoop } from '../scheduler/runner.js';
import { node } from '../scheduler/testkit.js';
import { makeTask, storeOnMemoryLog } from '../store/testkit.js';
import {
  DecisionSet,
  type Decisions,
  MAX_CREATES_PER_PASS,
  MAX_WRITES_PER_TRANSACTION,
} from './decisions.js';
import { type LoopClock, loopsComponent, ReconcileLoop } from './loop.js';
import { orchestratorLoop } from './runner.js';
import { harness, seconds, service } from './testkit.js';

const S = TaskState;

function fakeClock(h: ReturnType<typeof harness>) {
  let timers: { at: number; fn: () => void }[] = [];
  const clock: LoopClock = {
    now: () => h.clock.now,
    timer(at, fn) {
      const t = { at, fn };
      timers.push(t);
      return () => {
        timers = timers.filter((x) => x !== t);
      };
    },
  };
  return {
    clock,
    advance(ms: number) {
      h.clock.now += ms;
      const due = timers.filter((t) => t.at <= h.clock.now);
      timers = timers.filter((t) => t.at > h.clock.now);
      for (const t of due) t.fn();
    },
  };
}

function cluster() {
  const h = harness();
  const fc = fakeClock(h);
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  const loops = [
    orchestratorLoop(h.store, { clock: fc.clock, onError }),
    allocatorLoop(h.store, { clock: fc.clock }),
    schedulerLoop(h.store, { clock: fc.clock, onError }),
  ];
  return { h, fc, loops, errors };
}

/** Waits until no loop has anything left to do. */
async function quiet(loops: readonly ReconcileLoop[]) {
  for (let round = 0; round < 50; round++) {
    const before = loops.reduce((n, l) => n + l.passes, 0);
    for (const l of loops) await l.idle();
    if (loops.reduce((n, l) => n + l.passes, 0) === before) return;
  }
  throw new Error('the loops did not go quiet');
}

const assigned = (ts: Task[]) => ts.filter((t) => t.status?.state === S.TASK_STATE_ASSIGNED);

describe('orchestrator and scheduler runners', () => {
  it('3 replicas on 3 ready nodes: 3 ASSIGNED tasks, one per node; scale to 1; a node down moves its task', async () => {
    const { h, loops, errors } = cluster();
    await h.put('node', node('a'), node('b'), node('c'));
    await h.put('service', service('s1', 'web', { replicas: 3 }));
    for (const l of loops) l.start();
    await quiet(loops);
    const live = h.live('s1');
    expect(assigned(live)).toHaveLength(3);
    expect(live.map((t) => t.nodeId).sort()).toEqual(['a', 'b', 'c']);
    expect(live.map((t) => t.slot)).toEqual([1, 2, 3]);

    await h.edit('service', 's1', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 1 } };
    });
    await quiet(loops);
    expect(h.live('s1')).toHaveLength(1);
    const removing = h.tasks('s1').filter((t) => t.desiredState === S.TASK_STATE_REMOVE);
    expect(removing).toHaveLength(2);
    for (const t of removing) await h.report(t.id, S.TASK_STATE_SHUTDOWN); // the workers stop them
    await quiet(loops);
    expect(h.tasks('s1')).toHaveLength(1);

    const [survivor] = h.live('s1');
    await h.report(survivor.id, S.TASK_STATE_RUNNING);
    await h.edit('node', survivor.nodeId, (n) => {
      n.status!.state = NodeState.NODE_STATE_DOWN;
    });
    await quiet(loops);
    const [moved] = h.live('s1');
    expect(moved.id).not.toBe(survivor.id);
    expect(moved.slot).toBe(survivor.slot);
    expect(moved.status?.state).toBe(S.TASK_STATE_ASSIGNED);
    expect(moved.nodeId).not.toBe(survivor.nodeId);
    expect(h.tasks('s1').find((t) => t.id === survivor.id)?.desiredState).toBe(S.TASK_STATE_SHUTDOWN);
    expect(errors).toEqual([]);
    for (const l of loops) await l.stop();
  });

  it('a settled scheduler skips status reports; a task left pending makes every change count again', async () => {
    const { h, loops, errors } = cluster();
    const scheduler = loops[2];
    await h.put('node', node('a'), node('b'));
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    for (const l of loops) l.start();
    await quiet(loops);
    expect(assigned(h.live('s1'))).toHaveLength(2);

    // every task placed: reports of tasks starting and running are nothing to the scheduler, nor to the
    // orchestrator while the service is not being updated (isQuietTaskEvent)
    const orchestrator = loops[0];
    const settledPasses = scheduler.passes;
    const orchestratorPasses = orchestrator.passes;
    for (const state of [S.TASK_STATE_ACCEPTED, S.TASK_STATE_PREPARING, S.TASK_STATE_STARTING])
      for (const t of h.live('s1')) await h.report(t.id, state);
    await quiet(loops);
    expect(orchestrator.passes).toBe(orchestratorPasses);
    for (const t of h.live('s1')) await h.report(t.id, S.TASK_STATE_RUNNING);
    await quiet(loops);
    expect(orchestrator.passes).toBe(orchestratorPasses);
    expect(scheduler.passes).toBe(settledPasses);
    // a failure still reaches the orchestrator: the slot gets a new task, which the scheduler places
    const [failing] = h.live('s1');
    await h.report(failing.id, S.TASK_STATE_FAILED);
    await quiet(loops);
    const again = h.live('s1').find((t) => t.slot === failing.slot);
    expect(again?.id).not.toBe(failing.id);
    expect(again?.status?.state).toBe(S.TASK_STATE_ASSIGNED);

    // a task no node can take stays pending, and then a node event (not a task event) must reach the scheduler
    await h.put('service', service('s2', 'zoned', { constraints: ['node.labels.zone==x'] }));
    await quiet(loops);
    const [waiting] = h.live('s2');
    expect(waiting.status?.state).toBe(S.TASK_STATE_PENDING);
    expect(waiting.status?.err).toMatch(/no suitable node/);
    await h.put('node', node('c', { labels: { zone: 'x' } }));
    await quiet(loops);
    const [placed] = h.live('s2');
    expect(placed.status?.state).toBe(S.TASK_STATE_ASSIGNED);
    expect(placed.nodeId).toBe('c');

    // settled again: a new pending task still wakes it
    await h.edit('service', 's1', (sv) => {
      sv.spec!.mode = { $case: 'replicated', value: { replicas: 3 } };
    });
    await quiet(loops);
    expect(assigned(h.live('s1'))).toHaveLength(2); // the replaced slot's and the new one's
    expect(h.live('s1')).toHaveLength(3);
    expect(errors).toEqual([]);
    for (const l of loops) await l.stop();
  });

  it('restart policy: delay honoured with the fake clock, max attempts stop the restarts', async () => {
    const { h, fc, loops, errors } = cluster();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { restart: { maxAttempts: 2, delay: seconds(5) } }));
    for (const l of loops) l.start();
    await quiet(loops);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [t] = h.live('s1');
      expect(t.status?.state, `attempt ${attempt}`).toBe(S.TASK_STATE_ASSIGNED);
      await h.report(t.id, S.TASK_STATE_RUNNING);
      fc.advance(1000);
      await h.report(t.id, S.TASK_STATE_FAILED);
      await quiet(loops);
      if (attempt === 3) break;
      // the restart waits, desired READY (placed, so its node may prepare it), until the delay is over
      const [next] = h.live('s1');
      expect(next.desiredState).toBe(S.TASK_STATE_READY);
      expect(next.nodeId).toBe('a');
      fc.advance(4999);
      await quiet(loops);
      expect(h.live('s1')[0].desiredState).toBe(S.TASK_STATE_READY);
      fc.advance(1);
      await quiet(loops);
      expect(h.live('s1')[0].desiredState).toBe(S.TASK_STATE_RUNNING);
    }
    expect(h.live('s1')).toHaveLength(0);
    expect(h.tasks('s1')).toHaveLength(3);
    fc.advance(600_000);
    await quiet(loops);
    expect(h.tasks('s1')).toHaveLength(3);
    expect(errors).toEqual([]);
    for (const l of loops) await l.stop();
  });

  it('a runner started on a store that already holds the tasks (a new leader) creates none', async () => {
    const { h, loops } = cluster();
    await h.put('node', node('a'), node('b'));
    await h.put('service', service('s1', 'web', { replicas: 4 }), service('g', 'agent', { global: true }));
    for (const l of loops) l.start();
    await quiet(loops);
    for (const l of loops) await l.stop();
    const before = h.tasks();
    expect(before).toHaveLength(6);

    const index = h.store.appliedIndex;
    const fresh = [orchestratorLoop(h.store), schedulerLoop(h.store)];
    for (const l of fresh) l.start();
    await quiet(fresh);
    expect(fresh.map((l) => l.commits)).toEqual([0, 0]);
    expect(fresh.every((l) => l.passes >= 1)).toBe(true);
    expect(h.store.appliedIndex).toBe(index);
    expect(h.tasks()).toEqual(before);
    for (const l of fresh) await l.stop();
  });

  it('a stopped runner ignores changes; start() catches up from the store', async () => {
    const { h, loops } = cluster();
    await h.put('node', node('a'));
    await h.put('service', service('s1', 'web', { replicas: 1 }));
    for (const l of loops) l.start();
    await quiet(loops);
    for (const l of loops) await l.stop();
    await h.edit('service', 's1', (s) => {
      s.spec!.mode = { $case: 'replicated', value: { replicas: 2 } };
    });
    await quiet(loops);
    expect(h.live('s1')).toHaveLength(1);
    for (const l of loops) l.start();
    await quiet(loops);
    expect(assigned(h.live('s1'))).toHaveLength(2);
    for (const l of loops) await l.stop();
  });

  it('runWhileLeader starts the loops with leadership and stops them when it is lost', async () => {
    const { h, loops } = cluster();
    await h.put('node', node('a'));
    h.log.setLeader(undefined);
    const log = h.log.face(0);
    const done = runWhileLeader(log, loopsComponent(loops));
    await Promise.resolve();
    expect(loops.map((l) => l.active)).toEqual([false, false, false]);
    h.log.setLeader(0);
    await new Promise((r) => setImmediate(r));
    expect(loops.map((l) => l.active)).toEqual([true, true, true]);
    await h.put('service', service('s1', 'web', { replicas: 2 }));
    await quiet(loops);
    expect(assigned(h.live('s1'))).toHaveLength(2);
    h.log.setLeader(undefined);
    expect(loops.map((l) => l.active)).toEqual([false, false, false]);
    await done();
  });
});

describe('runWhileLeader after a slow read barrier', () => {
  it("starts the loops even when the new leader's first read barriers time out", async () => {
    const { h, loops } = cluster();
    await h.put('node', node('a'));
    h.log.failNextReadBarriers(2);
    const errors: unknown[] = [];
    const done = runWhileLeader(h.log.face(0), loopsComponent(loops), (e) => errors.push(e));
    for (let i = 0; i < 100 && !loops[0].active; i++) await new Promise((r) => setTimeout(r, 10));
    expect(loops.map((l) => l.active)).toEqual([true, true, true]);
    expect(errors).toHaveLength(2);
    await done();
  });
});

describe('runWhileLeader stopped while its barrier keeps failing', () => {
  it('asks no more once stopped', async () => {
    const { h, loops } = cluster();
    h.log.failNextReadBarriers(1000);
    const errors: unknown[] = [];
    const done = runWhileLeader(h.log.face(0), loopsComponent(loops), (e) => errors.push(e));
    await new Promise((r) => setTimeout(r, 150));
    await done();
    const after = errors.length;
    expect(after).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 350));
    expect(errors).toHaveLength(after);
    expect(loops.map((l) => l.active)).toEqual([false, false, false]);
  });
});

/** Lets n turns of the event loop go by. */
async function turns(n: number) {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('ReconcileLoop pacing', () => {
  it('after a slow pass the next waits as long as it took; fast passes follow at once; stop() ends a wait', async () => {
    const h = harness();
    const fc = fakeClock(h);
    let passMs = 20;
    const loop = new ReconcileLoop({
      name: 'slow',
      store: h.store,
      clock: fc.clock,
      decide: () => {
        h.clock.now += passMs; // the pass "takes" passMs by the loop's clock
        return new DecisionSet().result();
      },
    });
    loop.start();
    await loop.idle();
    expect(loop.passes).toBe(1);

    loop.kick();
    await turns(5);
    expect(loop.passes).toBe(1); // waiting 20 ms
    fc.advance(19);
    await turns(5);
    expect(loop.passes).toBe(1);
    passMs = 1;
    fc.advance(1);
    await loop.idle();
    expect(loop.passes).toBe(2);

    loop.kick(); // the last pass was fast: no wait
    await loop.idle();
    expect(loop.passes).toBe(3);

    passMs = 50;
    loop.kick();
    await loop.idle();
    expect(loop.passes).toBe(4);
    loop.kick(); // waits 50 ms of the fake clock, which never comes
    await turns(3);
    await loop.stop();
    expect(loop.passes).toBe(4);
  });

  it('time gone by since a slow pass decided (its commit, a quiet spell) counts toward its wait', async () => {
    const h = harness();
    const fc = fakeClock(h);
    const loop = new ReconcileLoop({
      name: 'slow',
      store: h.store,
      clock: fc.clock,
      decide: () => {
        h.clock.now += 20;
        return new DecisionSet().result();
      },
    });
    loop.start();
    await loop.idle();
    fc.advance(15); // 15 of the 20 ms gone by
    loop.kick();
    await turns(5);
    expect(loop.passes).toBe(1);
    fc.advance(5);
    await loop.idle();
    expect(loop.passes).toBe(2);
    fc.advance(20); // all of it: the next pass follows at once
    loop.kick();
    await loop.idle();
    expect(loop.passes).toBe(3);
    await loop.stop();
  });
});

describe('ReconcileLoop commits', () => {
  it('proposes every part of a large pass before the first commits', async () => {
    const { store, log } = storeOnMemoryLog('manual');
    const count = MAX_WRITES_PER_TRANSACTION * 2 + 1;
    let round = 0;
    const loop = new ReconcileLoop({
      name: 'parts',
      store,
      tables: ['service'],
      decide: () => {
        round++;
        const d = new DecisionSet();
        if (round === 1)
          for (let i = 0; i < count; i++)
            d.create(makeTask(`t${i}`, 'svc', i + 1, '', TaskState.TASK_STATE_RUNNING));
        return d.result();
      },
    });
    loop.start();
    await turns(10);
    expect(log.lastIndex).toBe(3); // three entries proposed, none applied yet
    log.flush();
    await loop.idle();
    expect(loop.commits).toBe(1);
    expect(store.view((tx) => tx.list('task').length)).toBe(count);
    await loop.stop();
  });
});

describe('ReconcileLoop failures', () => {
  it('a pass that throws is reported and tried again over everything, with no change to ask for it', async () => {
    const h = harness();
    const fc = fakeClock(h);
    const errors: unknown[] = [];
    const seen: (readonly unknown[] | undefined)[] = [];
    let fail = true;
    const loop = new ReconcileLoop({
      name: 'flaky',
      store: h.store,
      clock: fc.clock,
      onError: (e) => errors.push(e),
      decide: (_tx, _now, changes) => {
        seen.push(changes);
        if (fail) throw new RangeError('a bug');
        return new DecisionSet().result();
      },
    });
    loop.start();
    await loop.idle();
    expect(errors).toHaveLength(1);
    fail = false;
    await turns(5);
    expect(loop.passes).toBe(1); // nothing changed: it waits
    fc.advance(1000);
    await loop.idle();
    expect(loop.passes).toBe(2);
    expect(seen[1]).toBeUndefined(); // a pass over everything
    await loop.stop();
  });
});

describe('ReconcileLoop changes', () => {
  it('hands a pass the events since the last; everything after start, a kick, a timer or a failed commit', async () => {
    const h = harness();
    const fc = fakeClock(h);
    const seen: (string[] | undefined)[] = [];
    let next: Partial<Decisions> = {};
    const loop = new ReconcileLoop({
      name: 'scoped',
      store: h.store,
      clock: fc.clock,
      tables: ['service'],
      decide: (_view, _now, changes) => {
        seen.push(changes?.map((e) => `${e.kind} ${e.object.id}`));
        const d = { ...new DecisionSet().result(), ...next };
        next = {};
        return d;
      },
    });
    loop.start();
    await loop.idle();
    expect(seen).toEqual([undefined]); // the first pass looks at everything

    await h.put('service', service('s1', 'a'), service('s2', 'b'));
    await loop.idle();
    expect(seen.at(-1)).toEqual(['create s1', 'create s2']);

    loop.kick();
    await loop.idle();
    expect(seen.at(-1)).toBeUndefined();

    // A pass over changes asks for a wake-up at 5 s: the timer's pass looks at everything.
    next = { wakeAt: h.clock.now + 5000 };
    await h.edit('service', 's1', (s) => {
      s.spec!.annotations!.labels = { x: '1' };
    });
    await loop.idle();
    expect(seen.at(-1)).toEqual(['update s1']);
    // A later one asking for 9 s does not put the 5 s timer off.
    next = { wakeAt: h.clock.now + 9000 };
    await h.edit('service', 's2', (s) => {
      s.spec!.annotations!.labels = { y: '1' };
    });
    await loop.idle();
    const passes = loop.passes;
    fc.advance(5000);
    await loop.idle();
    expect(loop.passes).toBe(passes + 1);
    expect(seen.at(-1)).toBeUndefined();

    // A commit that conflicts gives its changes back to the next pass.
    const stale = h.store.view((tx) => tx.get('service', 's1'))!;
    await h.edit('service', 's1', (s) => {
      s.spec!.annotations!.labels = { x: '2' };
    });
    await loop.idle();
    next = { updateServices: [stale] }; // read at an older version: conflict
    await h.edit('service', 's2', (s) => {
      s.spec!.annotations!.labels = { y: '2' };
    });
    await loop.idle();
    expect(seen.slice(-2)).toEqual([['update s2'], ['update s2']]);

    // A commit the log refuses (not a conflict): a pass over everything a second later.
    const errors: unknown[] = [];
    (loop as unknown as { opts: { onError: (e: unknown) => void } }).opts.onError = (e) => errors.push(e);
    next = { updateServices: [h.store.view((tx) => tx.get('service', 's1'))!] };
    await h.edit('service', 's2', (s) => {
      s.spec!.annotations!.labels = { y: '3' };
    });
    h.log.failNextProposal(); // the loop's, which follows the edit
    await loop.idle();
    expect(errors).toHaveLength(1);
    const before = loop.passes;
    fc.advance(999);
    await loop.idle();
    expect(loop.passes).toBe(before);
    fc.advance(1);
    await loop.idle();
    expect(loop.passes).toBe(before + 1);
    expect(seen.at(-1)).toBeUndefined();
    await loop.stop();
  });
});

describe('ReconcileLoop carry', () => {
  it('a scale-up beyond MAX_CREATES_PER_PASS goes on pass after pass until every replica exists', async () => {
    const h = harness();
    const loop = orchestratorLoop(h.store);
    await h.put('service', service('s1', 'web', { replicas: 2 * MAX_CREATES_PER_PASS + 500 }));
    loop.start();
    await quiet([loop]);
    expect(h.tasks('s1')).toHaveLength(2 * MAX_CREATES_PER_PASS + 500);
    expect(new Set(h.tasks('s1').map((t) => t.slot)).size).toBe(2 * MAX_CREATES_PER_PASS + 500);
    expect(loop.commits).toBeGreaterThanOrEqual(3);
    await loop.stop();
  });
});
