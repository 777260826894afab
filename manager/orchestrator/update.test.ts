// The rolling updater over a store on the in-memory log, with a clock the test moves and the rest of the
// cluster played by `h.work` (placement, RUNNING, SHUTDOWN): pace (parallelism, delay), order (stop-first,
// start-first), UpdateStatus, monitor, max failure ratio, failure actions (pause, continue, rollback), a
// rollback never rolled back, force, and a new leader resuming.
import { describe, expect, it } from 'vitest';
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import {
  TaskState as S,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
} from '../../proto/gen/shoal/swarm/v1/types.js';
import { node } from '../scheduler/testkit.js';
import { editService, imageOf } from './spec.js';
import { harness, type ServiceOpts, seconds, service } from './testkit.js';

type H = ReturnType<typeof harness>;
const NODES = ['a', 'b', 'c'];

const svcOf = (h: H, id = 's'): Service => {
  const s = h.store.view((tx) => tx.get('service', id));
  if (!s) throw new Error(`no service ${id}`);
  return s;
};
const status = (h: H) => svcOf(h).updateStatus;
const images = (ts: readonly Task[]) => ts.map((t) => `${t.slot}:${imageOf(t)}`);
const lastUp = (h: H) => Math.max(...h.live('s').map((t) => t.runningSince));
/** Orchestrator passes and cluster rounds until the slot's bb:2 task runs; returns it. */
async function upIn(h: H, slot: number): Promise<Task> {
  for (let i = 0; i < 10; i++) {
    await h.settle();
    const t = h.live('s').find((x) => x.slot === slot && imageOf(x) === 'bb:2');
    if (t?.status?.state === S.TASK_STATE_RUNNING) return t;
    await h.work(NODES);
  }
  throw new Error(`slot ${slot}'s new task never ran`);
}
const running = (h: H) =>
  h
    .live('s')
    .filter((t) => t.desiredState === S.TASK_STATE_RUNNING && t.status?.state === S.TASK_STATE_RUNNING);

/** A 6-replica service, converged on three nodes, then its image set to bb:2. */
async function updating(update: ServiceOpts['update'], o: ServiceOpts = {}): Promise<H> {
  const h = harness();
  await h.put('node', ...NODES.map((n) => node(n)));
  await h.put(
    'service',
    service('s', 'web', {
      replicas: 6,
      update: { monitor: seconds(5), ...update },
      rollback: { parallelism: 0, monitor: seconds(5) },
      ...o,
    }),
  );
  await h.converge(NODES);
  await h.edit('service', 's', (s) => {
    s.previousSpec = structuredClone(s.spec);
    editService(s, { image: 'bb:2' });
  });
  return h;
}

describe('rolling update', () => {
  it('stop-first, parallelism 2: two slots at a time, each new task started only once the old one stopped', async () => {
    const h = await updating({ parallelism: 2 });
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_UPDATING,
      message: 'update in progress',
      startedAt: h.clock.now,
    });
    // Slots 1 and 2: old asked to stop, new waiting (desired READY) while the old may still run.
    const byDesired = (d: S) => images(h.live('s').filter((t) => t.desiredState === d));
    expect(byDesired(S.TASK_STATE_READY)).toEqual(['1:bb:2', '2:bb:2']);
    expect(byDesired(S.TASK_STATE_RUNNING)).toEqual(['3:bb:1', '4:bb:1', '5:bb:1', '6:bb:1']);
    // The old ones stop; the new ones start; then the next two slots.
    await h.work(NODES);
    await h.settle();
    expect(byDesired(S.TASK_STATE_RUNNING).filter((x) => x.endsWith('bb:2'))).toEqual(['1:bb:2', '2:bb:2']);
    expect(byDesired(S.TASK_STATE_READY)).toEqual([]); // 3 and 4 wait until 1 and 2 run
    await h.work(NODES);
    await h.settle();
    expect(byDesired(S.TASK_STATE_READY)).toEqual(['3:bb:2', '4:bb:2']);
    await h.converge(NODES);
    expect(images(running(h))).toEqual(['1:bb:2', '2:bb:2', '3:bb:2', '4:bb:2', '5:bb:2', '6:bb:2']);
    // Completed once the last new task has run for the monitor period.
    expect(status(h)?.state).toBe(UpdateState.UPDATE_STATE_UPDATING);
    expect(h.decide().wakeAt).toBe(lastUp(h) + 5000);
    h.clock.now = lastUp(h) + 5000;
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_COMPLETED,
      message: 'update completed',
      completedAt: h.clock.now,
    });
    expect(await h.settle()).toBe(0);
  });

  it('start-first: the new task runs beside the old one, which is stopped once the new one runs', async () => {
    const h = await updating({ parallelism: 1, order: UpdateOrder.UPDATE_ORDER_START_FIRST });
    await h.settle();
    const slot1 = () => h.live('s').filter((t) => t.slot === 1);
    expect(slot1().map((t) => [imageOf(t), t.desiredState])).toEqual([
      ['bb:1', S.TASK_STATE_RUNNING],
      ['bb:2', S.TASK_STATE_RUNNING],
    ]);
    await h.work(NODES); // the new one runs
    await h.settle();
    expect(slot1().map((t) => imageOf(t))).toEqual(['bb:2']);
    expect(h.live('s').filter((t) => t.slot === 2 && imageOf(t) === 'bb:2')).toHaveLength(1);
    await h.converge(NODES);
    expect(images(running(h))).toHaveLength(6);
    expect(running(h).every((t) => imageOf(t) === 'bb:2')).toBe(true);
  });

  it('waits `delay` after a replacement came up before the next, and asks to be woken then', async () => {
    const h = await updating({ parallelism: 1, delay: seconds(10) });
    await h.converge(NODES); // slot 1 replaced and up; slot 2 waits
    expect(images(running(h)).filter((x) => x.endsWith('bb:2'))).toEqual(['1:bb:2']);
    expect(h.decide().wakeAt).toBe(lastUp(h) + 10_000);
    h.clock.now = lastUp(h) + 10_000;
    await h.converge(NODES);
    expect(images(running(h)).filter((x) => x.endsWith('bb:2'))).toEqual(['1:bb:2', '2:bb:2']);
  });

  it('parallelism 0 replaces every slot at once; tasks whose spec did not change are left alone', async () => {
    const h = await updating({ parallelism: 0 });
    await h.settle();
    expect(h.live('s').filter((t) => imageOf(t) === 'bb:2')).toHaveLength(6);
    await h.converge(NODES);
    const ids = h.live('s').map((t) => t.id);
    // A label on the service changes no task: nothing is replaced, no update is started.
    h.clock.now += 10_000;
    await h.settle();
    await h.edit('service', 's', (s) => {
      s.spec!.annotations!.labels = { tier: 'web' };
      s.updateStatus = undefined;
    });
    expect(await h.settle()).toBe(0);
    expect(h.live('s').map((t) => t.id)).toEqual(ids);
    expect(status(h)).toBeUndefined();
  });

  it('force: a bumped force_update counter replaces every task with the same image', async () => {
    const h = await updating({ parallelism: 3 });
    await h.converge(NODES);
    h.clock.now += 5000;
    await h.settle();
    const before = h.live('s').map((t) => t.id);
    await h.edit('service', 's', (s) => {
      s.spec!.taskTemplate!.forceUpdate = 1;
      s.updateStatus = undefined;
    });
    await h.converge(NODES);
    const after = running(h);
    expect(after).toHaveLength(6);
    expect(after.some((t) => before.includes(t.id))).toBe(false);
    expect(after.every((t) => imageOf(t) === 'bb:2' && t.spec?.forceUpdate === 1)).toBe(true);
  });

  it('a new task failing within the monitor period pauses the update (failure action pause); update resumes it', async () => {
    const h = await updating({ parallelism: 1 });
    await h.settle();
    await h.work(NODES);
    await h.settle(); // slot 1's new task promoted
    await h.work(NODES); // … and running
    const first = h.live('s').find((t) => t.slot === 1 && imageOf(t) === 'bb:2')!;
    h.clock.now += 4000; // within the 5 s monitor
    await h.report(first.id, S.TASK_STATE_FAILED, 'exit 1');
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_PAUSED,
      message: `update paused due to failure or early termination of task ${first.id}`,
    });
    await h.converge(NODES);
    // Paused: slots 2..6 keep the old image (slot 1 restarts per its policy).
    expect(images(running(h)).filter((x) => x.endsWith('bb:1'))).toHaveLength(5);
    // The next service update starts the rollout again.
    await h.edit('service', 's', (s) => {
      s.updateStatus = undefined;
    });
    await h.converge(NODES);
    expect(running(h).every((t) => imageOf(t) === 'bb:2')).toBe(true);
    expect(status(h)?.state).toBe(UpdateState.UPDATE_STATE_UPDATING);
  });

  it('a failure after the monitor period, or within max_failure_ratio, does not stop the update', async () => {
    const h = await updating({ parallelism: 1, maxFailureRatio: 0.2 });
    const t1 = await upIn(h, 1);
    h.clock.now += 6000; // after the monitor period
    await h.report(t1.id, S.TASK_STATE_FAILED, 'late');
    await h.settle();
    expect(status(h)?.state).toBe(UpdateState.UPDATE_STATE_UPDATING);
    const t2 = await upIn(h, 2);
    await h.report(t2.id, S.TASK_STATE_FAILED, 'early'); // 1 of 6 ≤ 0.2
    await h.settle();
    expect(status(h)?.state).toBe(UpdateState.UPDATE_STATE_UPDATING);
    const t3 = await upIn(h, 3);
    await h.report(t3.id, S.TASK_STATE_REJECTED, 'early'); // 2 of 6 > 0.2
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_PAUSED,
      message: `update paused due to failure or early termination of task ${t3.id}`,
    });
  });

  it('failure action continue: the update completes despite a failure', async () => {
    const h = await updating({
      parallelism: 2,
      failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_CONTINUE,
    });
    await h.converge(NODES);
    const t = h.live('s').find((x) => imageOf(x) === 'bb:2')!;
    await h.report(t.id, S.TASK_STATE_FAILED);
    await h.converge(NODES);
    h.clock.now += 5000;
    await h.converge(NODES);
    expect(status(h)?.state).toBe(UpdateState.UPDATE_STATE_COMPLETED);
    expect(running(h).every((x) => imageOf(x) === 'bb:2')).toBe(true);
  });

  it('failure action rollback: back to the previous spec at the rollback pace, and a failing rollback is paused, never rolled back', async () => {
    const h = await updating({
      parallelism: 1,
      failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK,
    });
    await h.settle();
    await h.work(NODES);
    await h.settle();
    const bad = h.live('s').find((t) => t.slot === 1 && imageOf(t) === 'bb:2')!;
    await h.report(bad.id, S.TASK_STATE_FAILED, 'exit 1'); // failed before it was even up
    await h.settle();
    const s = svcOf(h);
    expect(s.updateStatus).toMatchObject({
      state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
      message: `update rolled back due to failure or early termination of task ${bad.id}`,
    });
    expect(s.spec?.taskTemplate?.containerSpec?.image).toBe('bb:1');
    expect(s.previousSpec).toBeUndefined();
    await h.converge(NODES);
    expect(running(h).every((t) => imageOf(t) === 'bb:1')).toBe(true);
    h.clock.now += 5000;
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_ROLLBACK_COMPLETED,
      message: 'rollback completed',
    });

    // A manual rollback whose tasks fail is paused (rollback_paused), never rolled back again.
    await h.edit('service', 's', (x) => {
      x.previousSpec = structuredClone(x.spec);
      editService(x, { image: 'bb:3' });
      x.spec!.rollbackConfig = {
        ...x.spec!.rollbackConfig!,
        failureAction: UpdateFailureAction.UPDATE_FAILURE_ACTION_ROLLBACK,
      };
      x.updateStatus = {
        state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED,
        startedAt: h.clock.now,
        completedAt: 0,
        message: 'manually requested rollback',
      };
    });
    await h.settle();
    await h.work(NODES);
    await h.settle();
    const failing = h.live('s').find((t) => imageOf(t) === 'bb:3')!;
    await h.report(failing.id, S.TASK_STATE_FAILED);
    await h.settle();
    expect(status(h)).toMatchObject({
      state: UpdateState.UPDATE_STATE_ROLLBACK_PAUSED,
      message: `rollback paused due to failure or early termination of task ${failing.id}`,
    });
    expect(svcOf(h).spec?.taskTemplate?.containerSpec?.image).toBe('bb:3');
  });

  it('a new leader resumes an update from the store alone (no memory of the old one)', async () => {
    const h = await updating({ parallelism: 2 });
    await h.settle();
    await h.work(NODES);
    // A fresh pass over the same store (what a new leader's first pass is) decides what the old one would.
    const d1 = h.decide();
    const d2 = h.decide();
    expect(d1.updates.map((t) => [t.id, t.desiredState])).toEqual(
      d2.updates.map((t) => [t.id, t.desiredState]),
    );
    await h.converge(NODES);
    expect(running(h).every((t) => imageOf(t) === 'bb:2')).toBe(true);
  });

  it('global services update node by node', async () => {
    const h = harness();
    await h.put('node', ...NODES.map((n) => node(n)));
    await h.put('service', service('g', 'agent', { global: true, update: { parallelism: 1 } }));
    await h.converge(NODES);
    await h.edit('service', 'g', (s) => editService(s, { image: 'bb:2' }));
    await h.settle();
    expect(h.live('g').filter((t) => imageOf(t) === 'bb:2')).toHaveLength(1);
    await h.converge(NODES);
    const live = h.live('g');
    expect(live.map((t) => t.nodeId).sort()).toEqual(NODES);
    expect(live.every((t) => imageOf(t) === 'bb:2' && t.status?.state === S.TASK_STATE_RUNNING)).toBe(true);
  });
});
