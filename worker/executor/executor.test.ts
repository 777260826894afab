// The executor over fake ports: one controller per task, replayed assignments, status fan-out,
// shutdown/remove, and restore from the containers' swarm labels.
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { Executor } from './executor.js';
import { LABEL, swarmLabels } from './spec-map.js';
import { FakeEngine, FakeImages, fakeClock, flush } from './testkit.js';
import type { StatusReport } from './types.js';

const S = TaskState;
async function settle(n = 20) {
  for (let i = 0; i < n; i++) await flush();
}

const mk = (id: string, extra: Record<string, unknown> = {}) =>
  Task.fromPartial({
    id,
    serviceId: 's',
    slot: 1,
    nodeId: 'n',
    serviceAnnotations: { name: 'web' },
    spec: { containerSpec: { image: 'busybox', command: ['sleep', '30'] } },
    desiredState: S.TASK_STATE_RUNNING,
    ...extra,
  });

function setup(engine = new FakeEngine()) {
  const reports: StatusReport[] = [];
  const logs: string[] = [];
  const ex = new Executor({ engine, images: new FakeImages(), clock: fakeClock(), log: (m) => logs.push(m) });
  ex.onStatus((r) => reports.push(r));
  return { ex, engine, reports, logs };
}

describe('Executor', () => {
  it('runs each task once however often it is assigned, and reports per task', async () => {
    const { ex, engine, reports } = setup();
    ex.run(mk('a'));
    ex.run(mk('a'));
    ex.run(mk('b'));
    await settle();
    expect(engine.calls.filter((c) => c === 'create')).toHaveLength(2);
    expect(ex.status('a')?.state).toBe(S.TASK_STATE_RUNNING);
    expect(ex.list().map((t) => t.taskId)).toEqual(['a', 'b']);
    expect(reports.filter((r) => r.taskId === 'a').map((r) => r.status.state)).toEqual([
      S.TASK_STATE_ACCEPTED,
      S.TASK_STATE_PREPARING,
      S.TASK_STATE_READY,
      S.TASK_STATE_STARTING,
      S.TASK_STATE_RUNNING,
    ]);
    await ex.close();
  });

  it('shutdown waits for SHUTDOWN; remove removes the container and forgets the task', async () => {
    const { ex, engine } = setup();
    ex.run(mk('a'));
    await settle();
    await ex.shutdown('a');
    expect(ex.status('a')?.state).toBe(S.TASK_STATE_SHUTDOWN);
    await ex.remove('a');
    expect(engine.containers.size).toBe(0);
    expect(ex.status('a')).toBeUndefined();
    await ex.remove('unknown'); // nothing to do, no error
  });

  it('a listener that throws does not stop the others or the task', async () => {
    const { ex, logs, reports } = setup();
    ex.onStatus(() => {
      throw new Error('boom');
    });
    ex.run(mk('a'));
    await settle();
    expect(reports.at(-1)?.status.state).toBe(S.TASK_STATE_RUNNING);
    expect(logs[0]).toBe('status listener: boom');
    await ex.close();
  });

  it('restore adopts labelled containers only, and a later run hands over the spec without a new container', async () => {
    const engine = new FakeEngine();
    await engine.create({ name: 'web.1.a', labels: swarmLabels(mk('a')), rootfs: { dir: '/' } });
    await engine.start('c1');
    await engine.create({ name: 'web.1.b', labels: swarmLabels(mk('b')), rootfs: { dir: '/' } });
    await engine.start('c2');
    engine.exit('c2', 0);
    await engine.create({ name: 'plain', labels: { other: 'x' }, rootfs: { dir: '/' } });
    engine.calls.length = 0;

    const { ex, reports } = setup(engine);
    const found = await ex.restore();
    expect(found.map((r) => [r.taskId, S[r.status.state]])).toEqual([
      ['a', 'TASK_STATE_RUNNING'],
      ['b', 'TASK_STATE_COMPLETE'],
    ]);
    expect(reports.map((r) => r.taskId)).toEqual(['a', 'b']);
    expect(await ex.restore()).toEqual([]); // idempotent

    ex.run(mk('a'));
    await settle();
    expect(engine.calls).toEqual([]);
    engine.exit('c1', 5);
    await settle();
    expect(ex.status('a')).toMatchObject({ state: S.TASK_STATE_FAILED, err: 'task: non-zero exit (5)' });
  });

  it("restore with the agent's copies: a task already SHUTDOWN stays so, a RUNNING one moves forward only", async () => {
    const engine = new FakeEngine();
    for (const id of ['a', 'b', 'c']) {
      await engine.create({ name: `web.1.${id}`, labels: swarmLabels(mk(id)), rootfs: { dir: '/' } });
      await engine.start(`c${engine.containers.size}`);
    }
    engine.exit('c1', 137); // stopped by the executor before the restart: reported SHUTDOWN then
    engine.exit('c2', 1); // died while the worker was away
    const status = (state: TaskState) => ({
      state,
      timestamp: 1,
      message: '',
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    });
    const { ex, reports } = setup(engine);
    const found = await ex.restore([
      mk('a', { status: status(S.TASK_STATE_SHUTDOWN), desiredState: S.TASK_STATE_SHUTDOWN }),
      mk('b', { status: status(S.TASK_STATE_RUNNING) }),
      mk('c', { status: status(S.TASK_STATE_RUNNING) }),
    ]);
    expect(found.map((r) => [r.taskId, S[r.status.state]])).toEqual([
      ['a', 'TASK_STATE_SHUTDOWN'],
      ['b', 'TASK_STATE_FAILED'],
      ['c', 'TASK_STATE_RUNNING'],
    ]);
    // Only b changed: a stays SHUTDOWN unreported, c was RUNNING already.
    expect(reports.map((r) => [r.taskId, S[r.status.state]])).toEqual([['b', 'TASK_STATE_FAILED']]);
    await ex.close();
  });

  it("run without restore still finds a task's container by its label", async () => {
    const engine = new FakeEngine();
    await engine.create({ name: 'web.1.a', labels: { [LABEL.taskId]: 'a' }, rootfs: { dir: '/' } });
    await engine.start('c1');
    engine.calls.length = 0;
    const { ex } = setup(engine);
    ex.run(mk('a'));
    await settle();
    expect(ex.status('a')?.state).toBe(S.TASK_STATE_RUNNING);
    expect(engine.calls).toEqual([]);
    await ex.close();
  });
});
