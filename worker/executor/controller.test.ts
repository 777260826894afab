// The per-task controller against fake ports: every transition, every failure, shutdown at each
// stage, health gating, adoption after a restart, and the never-backwards rule.
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { TaskController } from './controller.js';
import { BUSYBOX, FakeEngine, FakeImages, fakeClock, flush } from './testkit.js';
import type { Clock, ContainerInfo } from './types.js';

const S = TaskState;
async function settle(times = 20) {
  for (let i = 0; i < times; i++) await flush();
}

function makeTask(container: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Task {
  return Task.fromPartial({
    id: 't1',
    serviceId: 's1',
    slot: 2,
    nodeId: 'n1',
    serviceAnnotations: { name: 'web' },
    spec: { containerSpec: { image: 'busybox', command: ['sleep', '30'], ...container } },
    desiredState: S.TASK_STATE_RUNNING,
    ...extra,
  });
}

function setup(task = makeTask(), adopted?: ContainerInfo) {
  const engine = new FakeEngine();
  const images = new FakeImages();
  const clock = fakeClock();
  const reports: TaskStatus[] = [];
  const make = (t: Task, a?: ContainerInfo) =>
    new TaskController(t, { engine, images, clock, report: (s) => reports.push(s) }, a);
  const ctl = make(task, adopted);
  const states = () => reports.map((r) => S[r.state].replace('TASK_STATE_', ''));
  return { engine, images, clock, reports, ctl, states, make };
}

describe('TaskController', () => {
  it('walks ACCEPTED → … → RUNNING → COMPLETE with swarm messages, timestamps and container status', async () => {
    const { engine, ctl, reports, states, clock } = setup();
    await settle();
    expect(states()).toEqual(['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING']);
    expect(reports.map((r) => r.message)).toEqual([
      'accepted',
      'preparing',
      'prepared',
      'starting',
      'started',
    ]);
    expect(reports.every((r) => r.timestamp === clock.t)).toBe(true);
    expect(reports[0].containerStatus).toBeUndefined();
    expect(reports[4].containerStatus).toEqual({ containerId: 'c1', pid: 4242, exitCode: 0 });
    const opts = engine.get('c1').opts;
    expect(opts.name).toBe('web.2.t1');
    expect(opts.entrypoint).toEqual(['sleep', '30']);
    expect(opts.rootfs).toEqual({ layers: ['/layers/1'], imageConfig: { Cmd: ['sh'] } });
    engine.exit('c1', 0);
    await ctl.done;
    expect(states().at(-1)).toBe('COMPLETE');
    expect(reports.at(-1)).toMatchObject({
      message: 'finished',
      err: '',
      containerStatus: { exitCode: 0, pid: 0 },
    });
  });

  it('a non-zero exit is FAILED "task: non-zero exit (N)"; an OOM kill says so', async () => {
    for (const [code, oom, err] of [
      [3, false, 'task: non-zero exit (3)'],
      [137, true, 'task: non-zero exit (137): OOM killed'],
    ] as const) {
      const { engine, ctl, reports } = setup();
      await settle();
      engine.exit('c1', code, oom);
      await ctl.done;
      expect(reports.at(-1)).toMatchObject({
        state: S.TASK_STATE_FAILED,
        err,
        message: err,
        containerStatus: { containerId: 'c1', exitCode: code },
      });
    }
  });

  it('pulls an image that is not local, then runs it', async () => {
    const { images, engine, states } = setup(makeTask({ image: 'registry.local/app:1' }));
    images.registry.set('registry.local/app:1', { ...BUSYBOX, reference: 'registry.local/app:1' });
    await settle();
    expect(images.pulls).toEqual(['registry.local/app:1']);
    expect(states().at(-1)).toBe('RUNNING');
    expect(engine.get('c1').opts.image).toBe('registry.local/app:1');
  });

  it('an image neither local nor pullable is REJECTED "No such image: …" with the pull error as message', async () => {
    const { engine, ctl, reports } = setup(makeTask({ image: 'nope:latest' }));
    await ctl.done;
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_REJECTED,
      err: 'No such image: nope:latest',
      message: 'pull failed: manifest unknown: nope:latest',
    });
    expect(engine.calls).toEqual([]);
  });

  it('refuses an unsupported or bad field before pulling anything', async () => {
    const { engine, images, ctl, reports } = setup(makeTask({ image: 'elsewhere/x', hosts: ['10.0.0.1 a'] }));
    await ctl.done;
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_REJECTED,
      err: 'spec.containerSpec.hosts: extra /etc/hosts entries is not supported by this worker yet',
    });
    expect(images.pulls).toEqual([]);
    expect(engine.calls).toEqual([]);
  });

  it('a task without a container spec or image is REJECTED naming the field', async () => {
    const a = setup(Task.fromPartial({ id: 'x', desiredState: S.TASK_STATE_RUNNING }));
    await a.ctl.done;
    expect(a.reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_REJECTED,
      err: 'spec.containerSpec: a task needs a container spec',
    });
    const b = setup(makeTask({ image: '' }));
    await b.ctl.done;
    expect(b.reports.at(-1)?.err).toBe('spec.containerSpec.image: an image is required');
  });

  it('an engine create error is REJECTED, a start error FAILED', async () => {
    const engine = new FakeEngine();
    engine.createError = new Error('invalid capAdd: unknown capability "CAP_NOPE"');
    const reports: TaskStatus[] = [];
    const deps = {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s: TaskStatus) => reports.push(s),
    };
    await new TaskController(makeTask(), deps).done;
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_REJECTED,
      err: 'invalid capAdd: unknown capability "CAP_NOPE"',
    });

    engine.createError = undefined;
    engine.startError = new Error('exec "nope": executable file not found in $PATH');
    reports.length = 0;
    await new TaskController(makeTask(), deps).done;
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_FAILED,
      err: 'starting container failed: exec "nope": executable file not found in $PATH',
    });
  });

  it('with desired READY it prepares and waits; desired RUNNING then starts it', async () => {
    const t = makeTask({}, { desiredState: S.TASK_STATE_READY });
    const { ctl, engine, states } = setup(t);
    await settle();
    expect(states().at(-1)).toBe('READY');
    expect(engine.calls).toEqual(['create']);
    ctl.update({ ...t, desiredState: S.TASK_STATE_RUNNING });
    await settle();
    expect(states().at(-1)).toBe('RUNNING');
  });

  it('desired SHUTDOWN stops with the grace period and stop signal, then reports SHUTDOWN with the exit code', async () => {
    const t = makeTask({ stopSignal: 'SIGINT', stopGracePeriod: { seconds: 2, nanos: 500_000_000 } });
    const { ctl, engine, reports } = setup(t);
    await settle();
    ctl.update({ ...t, desiredState: S.TASK_STATE_SHUTDOWN });
    await ctl.done;
    expect(engine.calls).toContain('stop 2.5 SIGINT');
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_SHUTDOWN,
      message: 'shutdown',
      containerStatus: { containerId: 'c1', pid: 0, exitCode: 137 },
    });
    expect(engine.get('c1').opts.stopTimeout).toBe(3);
  });

  it('desired SHUTDOWN before anything ran reports SHUTDOWN and creates nothing', async () => {
    const { engine, ctl, states } = setup(makeTask({}, { desiredState: S.TASK_STATE_SHUTDOWN }));
    await ctl.done;
    expect(states()).toEqual(['SHUTDOWN']);
    expect(engine.calls).toEqual([]);
  });

  it('a shutdown during a pull abandons the pull and creates nothing', async () => {
    const t = makeTask({ image: 'slow/app' });
    const engine = new FakeEngine();
    const images = new FakeImages();
    let release!: () => void;
    images.pullGate = new Promise((r) => {
      release = r;
    });
    images.registry.set('slow/app', BUSYBOX);
    const reports: TaskStatus[] = [];
    const ctl = new TaskController(t, { engine, images, clock: fakeClock(), report: (s) => reports.push(s) });
    await settle();
    expect(reports.at(-1)?.state).toBe(S.TASK_STATE_PREPARING);
    ctl.update({ ...t, desiredState: S.TASK_STATE_REMOVE });
    await ctl.done;
    expect(images.pullSignal?.aborted).toBe(true);
    expect(reports.at(-1)?.state).toBe(S.TASK_STATE_SHUTDOWN);
    release();
    await settle();
    expect(engine.calls).toEqual([]);
  });

  it('with a healthcheck: STARTING until healthy, then RUNNING; unhealthy later fails it after a stop', async () => {
    const t = makeTask({
      healthcheck: { test: ['CMD', 'check'], interval: { seconds: 1, nanos: 0 }, retries: 2 },
    });
    const engine = new FakeEngine();
    const ok = { exitCode: 0, output: '', timedOut: false };
    const bad = { exitCode: 1, output: 'down', timedOut: false };
    engine.probes = [bad, ok, ok, bad, bad];
    const reports: TaskStatus[] = [];
    const ctl = new TaskController(t, {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s) => reports.push(s),
    });
    await ctl.done;
    expect(reports.map((r) => S[r.state])).toEqual([
      'TASK_STATE_ACCEPTED',
      'TASK_STATE_PREPARING',
      'TASK_STATE_READY',
      'TASK_STATE_STARTING',
      'TASK_STATE_RUNNING',
      'TASK_STATE_FAILED',
    ]);
    expect(engine.calls.filter((c) => c.startsWith('exec'))).toHaveLength(5);
    expect(engine.calls).toContain('stop 10 -');
    expect(reports.at(-1)).toMatchObject({
      err: 'task: non-zero exit (137): unhealthy container',
      containerStatus: { exitCode: 137 },
    });
  });

  it('a container that never gets healthy fails without being RUNNING, even if the stop exits 0', async () => {
    const t = makeTask({ healthcheck: { test: ['CMD-SHELL', 'false'], retries: 1 } });
    const engine = new FakeEngine();
    engine.stopCode = 0;
    const reports: TaskStatus[] = [];
    const ctl = new TaskController(t, {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s) => reports.push(s),
    });
    await ctl.done;
    expect(reports.map((r) => r.state)).not.toContain(S.TASK_STATE_RUNNING);
    expect(reports.at(-1)).toMatchObject({ state: S.TASK_STATE_FAILED, err: 'task: unhealthy container' });
    expect(engine.calls).toContain('exec /bin/sh -c false');
  });

  it('a container that exits before it is healthy ends with its exit', async () => {
    const t = makeTask({ healthcheck: { test: ['CMD', 'check'] } });
    const engine = new FakeEngine();
    const reports: TaskStatus[] = [];
    // A clock whose probes never come round: the container stays unproven.
    const still: Clock = {
      now: () => 0,
      sleep: (_ms, signal) => new Promise((r) => signal.addEventListener('abort', () => r())),
    };
    const ctl = new TaskController(t, {
      engine,
      images: new FakeImages(),
      clock: still,
      report: (s) => reports.push(s),
    });
    await settle();
    expect(reports.at(-1)?.state).toBe(S.TASK_STATE_STARTING);
    engine.exit('c1', 2);
    await ctl.done;
    expect(reports.at(-1)).toMatchObject({ state: S.TASK_STATE_FAILED, err: 'task: non-zero exit (2)' });
  });

  it('a lost container (wait fails) is FAILED', async () => {
    const engine = new FakeEngine();
    engine.waitError = new Error('No such container: c1');
    const reports: TaskStatus[] = [];
    await new TaskController(makeTask(), {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s) => reports.push(s),
    }).done;
    expect(reports.at(-1)).toMatchObject({
      state: S.TASK_STATE_FAILED,
      err: 'task: container lost: No such container: c1',
    });
  });

  it('never reports backwards: a task already RUNNING elsewhere-in-time without a container fails forward', async () => {
    const prev = {
      state: S.TASK_STATE_RUNNING,
      timestamp: 5,
      message: 'started',
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    };
    const { ctl, reports, engine } = setup(makeTask({}, { status: prev }));
    await ctl.done;
    expect(reports.map((r) => r.state)).toEqual([S.TASK_STATE_FAILED]);
    expect(reports[0].err).toMatch(/container is gone/);
    expect(engine.calls).toEqual([]);
  });

  it('a terminal task reports nothing, and its desired state moving on changes nothing', async () => {
    const prev = {
      state: S.TASK_STATE_COMPLETE,
      timestamp: 5,
      message: 'finished',
      err: '',
      containerStatus: undefined,
      portStatus: undefined,
    };
    const t = makeTask({}, { status: prev });
    const { ctl, reports } = setup(t);
    await ctl.done;
    ctl.update({ ...t, desiredState: S.TASK_STATE_SHUTDOWN });
    await settle();
    expect(reports).toEqual([]);
    expect(ctl.state).toBe(S.TASK_STATE_COMPLETE);
  });

  it('adopts containers after a restart: running → RUNNING, exited → its exit, created → READY', async () => {
    const base = { name: 'web.2.t1', labels: {}, pid: 0, exitCode: 0, oomKilled: false, error: '' };
    const engine = new FakeEngine();
    await engine.create({ name: 'web.2.t1', rootfs: { dir: '/' } });
    await engine.start('c1');
    const reports: TaskStatus[] = [];
    const deps = {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s: TaskStatus) => reports.push(s),
    };
    const running = new TaskController(makeTask(), deps, { ...base, id: 'c1', status: 'running', pid: 4242 });
    expect(reports.map((r) => r.state)).toEqual([S.TASK_STATE_RUNNING]);
    expect(reports[0].containerStatus).toEqual({ containerId: 'c1', pid: 4242, exitCode: 0 });
    engine.exit('c1', 0);
    await running.done;
    expect(reports.at(-1)?.state).toBe(S.TASK_STATE_COMPLETE);
    expect(engine.calls).toEqual(['create', 'start']); // nothing created or started again

    reports.length = 0;
    await new TaskController(makeTask(), deps, {
      ...base,
      id: 'gone',
      status: 'exited',
      exitCode: 255,
      error: 'monitor vanished',
    }).done;
    expect(reports).toMatchObject([
      { state: S.TASK_STATE_FAILED, err: 'task: non-zero exit (255): monitor vanished' },
    ]);

    reports.length = 0;
    await engine.create({ name: 'x', rootfs: { dir: '/' } });
    const created = new TaskController(makeTask({}, { desiredState: S.TASK_STATE_READY }), deps, {
      ...base,
      id: 'c2',
      status: 'created',
    });
    await settle();
    expect(reports.map((r) => r.state)).toEqual([S.TASK_STATE_READY]);
    created.desire(S.TASK_STATE_RUNNING);
    await settle();
    expect(reports.map((r) => r.state)).toEqual([
      S.TASK_STATE_READY,
      S.TASK_STATE_STARTING,
      S.TASK_STATE_RUNNING,
    ]);
  });

  it('adopts a container that exited while it was being stopped as SHUTDOWN with its exit code, not FAILED', async () => {
    const engine = new FakeEngine();
    await engine.create({ name: 'web.2.t1', rootfs: { dir: '/' } });
    await engine.start('c1');
    engine.exit('c1', 137);
    const reports: TaskStatus[] = [];
    const deps = {
      engine,
      images: new FakeImages(),
      clock: fakeClock(),
      report: (s: TaskStatus) => reports.push(s),
    };
    const task = makeTask(
      {},
      { desiredState: S.TASK_STATE_SHUTDOWN, status: { state: S.TASK_STATE_RUNNING } },
    );
    const info = engine.inspect('c1')!;
    await new TaskController(task, deps, info).done;
    expect(reports).toMatchObject([
      { state: S.TASK_STATE_SHUTDOWN, err: '', containerStatus: { containerId: 'c1', exitCode: 137 } },
    ]);
    expect(engine.calls).toEqual(['create', 'start']); // nothing stopped or started again
  });

  it('close stops reporting; the container is left alone', async () => {
    const { ctl, engine, reports } = setup();
    await settle();
    const n = reports.length;
    ctl.close();
    await ctl.done;
    engine.exit('c1', 1);
    await settle();
    expect(reports.length).toBe(n);
    expect(engine.calls).not.toContain('remove');
  });

  it('refuses an update for another task', () => {
    const { ctl } = setup();
    expect(() => ctl.update(makeTask({}, { id: 'other' }))).toThrow(/update of task t1 with task other/);
    ctl.close();
  });
});
