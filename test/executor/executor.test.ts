// The executor with real containers: the busybox image loaded into a temp image store, a
// ContainerManager on temp dirs, tasks driven through every outcome, restore after a restart.
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { MountType, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ContainerManager } from '../../worker/engine/index.js';
import { Executor, enginePort, imagePort, LABEL, type StatusReport } from '../../worker/executor/index.js';
import { ImageStore, loadArchive, pushImage } from '../../worker/images/index.js';
import { type Env, ensureFixture, makeEnv, pidAlive, ROOTFS, traces, until } from '../engine/helpers.js';
import { ensureImageFixtures, fixture } from '../images/fixtures.js';
import { startRegistry } from '../images/registry-harness.js';

const S = TaskState;
let env: Env;
let imagesDir: string;
let store: ImageStore;
let engine: ContainerManager;
let executor: Executor;
const reports: StatusReport[] = [];
let seq = 0;

function newExecutor(m: ContainerManager): Executor {
  const ex = new Executor({ engine: enginePort(m), images: imagePort(store, { retries: 0 }) });
  ex.onStatus((r) => reports.push(r));
  return ex;
}

beforeAll(async () => {
  ensureImageFixtures();
  env = makeEnv();
  imagesDir = mkdtempSync('/tmp/sx-img-');
  store = await ImageStore.open(join(imagesDir, 'images'));
  await loadArchive(store, createReadStream(fixture('busybox.docker.tar')) as AsyncIterable<Buffer>);
  engine = await env.open();
  executor = newExecutor(engine);
}, 120_000);

afterAll(async () => {
  await executor?.close();
  await env?.cleanup();
  rmSync(imagesDir, { recursive: true, force: true });
}, 120_000);

function task(container: Record<string, unknown>, extra: Record<string, unknown> = {}): Task {
  seq++;
  return Task.fromPartial({
    id: `task${seq}x${process.pid}`,
    serviceId: 'svc1',
    slot: seq,
    nodeId: 'node1',
    serviceAnnotations: { name: 'web' },
    spec: {
      containerSpec: { image: 'busybox', stopGracePeriod: { seconds: 0, nanos: 300_000_000 }, ...container },
    },
    desiredState: S.TASK_STATE_RUNNING,
    ...extra,
  });
}

const of = (id: string) => reports.filter((r) => r.taskId === id).map((r) => r.status);
const last = (id: string) => of(id).at(-1);

async function reach(id: string, state: TaskState, ms = 90_000) {
  await until(
    () => (last(id)?.state ?? 0) >= state,
    `task ${id} to reach ${S[state]} (at ${S[last(id)?.state ?? 0]})`,
    ms,
  );
  return last(id)!;
}

function expectForwardOnly(id: string) {
  const states = of(id).map((s) => s.state);
  for (let i = 1; i < states.length; i++) expect(states[i]).toBeGreaterThan(states[i - 1]);
}

describe('executor with real containers', () => {
  it('runs `sleep 30` to RUNNING and shuts it down within its grace period', async () => {
    const t = task({ command: ['sleep', '30'], labels: { tier: 'front' } });
    executor.run(t);
    const running = await reach(t.id, S.TASK_STATE_RUNNING);
    expect(running.state).toBe(S.TASK_STATE_RUNNING);
    expect(running.message).toBe('started');
    const cs = running.containerStatus!;
    expect(cs.pid).toBeGreaterThan(0);
    expect(pidAlive(cs.pid)).toBe(true);
    const c = engine.inspect(cs.containerId);
    expect(c.name).toBe(`web.${t.slot}.${t.id}`);
    expect(c.config.labels).toMatchObject({
      tier: 'front',
      [LABEL.taskId]: t.id,
      [LABEL.serviceId]: 'svc1',
      [LABEL.serviceName]: 'web',
      [LABEL.nodeId]: 'node1',
      [LABEL.taskName]: `web.${t.slot}.${t.id}`,
    });
    expect(of(t.id).map((s) => s.state)).toEqual([
      S.TASK_STATE_ACCEPTED,
      S.TASK_STATE_PREPARING,
      S.TASK_STATE_READY,
      S.TASK_STATE_STARTING,
      S.TASK_STATE_RUNNING,
    ]);

    // busybox sleep as PID 1 ignores SIGTERM: only the SIGKILL after the 300 ms grace ends it.
    executor.update({ ...t, desiredState: S.TASK_STATE_SHUTDOWN });
    const down = await reach(t.id, S.TASK_STATE_SHUTDOWN);
    expect(down.state).toBe(S.TASK_STATE_SHUTDOWN);
    expect(down.containerStatus?.exitCode).toBe(137);
    expect(pidAlive(cs.pid)).toBe(false);
    expectForwardOnly(t.id);

    await executor.remove(t.id);
    expect(() => engine.inspect(cs.containerId)).toThrow(/No such container/);
    expect(traces(env, cs.containerId)).toEqual([]);
    expect(executor.status(t.id)).toBeUndefined();
  });

  it('`sh -c "exit 3"` is FAILED with exit code 3', async () => {
    const t = task({ command: ['sh', '-c', 'exit 3'] });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_FAILED);
    expect(s.err).toBe('task: non-zero exit (3)');
    expect(s.message).toBe('task: non-zero exit (3)');
    expect(s.containerStatus?.exitCode).toBe(3);
    expectForwardOnly(t.id);
    await executor.remove(t.id);
  });

  it('`true` (args over the image cmd) is COMPLETE', async () => {
    const t = task({ args: ['true'] });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_COMPLETE);
    expect(s.message).toBe('finished');
    expect(s.err).toBe('');
    expect(s.containerStatus?.exitCode).toBe(0);
    await executor.remove(t.id);
  });

  it('an image neither local nor pullable is REJECTED "No such image"', async () => {
    const t = task({ image: '127.0.0.1:1/nope:latest' });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_REJECTED);
    expect(s.err).toBe('No such image: 127.0.0.1:1/nope:latest');
    expect(s.message).toMatch(/^pull failed: /);
    expect(s.containerStatus).toBeUndefined();
    await executor.remove(t.id);
    const bad = task({ image: 'Not A/Reference' });
    executor.run(bad);
    const r = await reach(bad.id, S.TASK_STATE_COMPLETE);
    expect(r.state).toBe(S.TASK_STATE_REJECTED);
    expect(r.err).toMatch(/reference/i);
  });

  it('an unsupported field is REJECTED naming it, and nothing is created', async () => {
    const before = engine.list({ all: true }).length;
    const t = task({ command: ['true'], hosts: ['10.0.0.1 db'] });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_REJECTED);
    expect(s.err).toBe(
      'spec.containerSpec.hosts: extra /etc/hosts entries is not supported by this worker yet',
    );
    const v = task({
      command: ['true'],
      mounts: [
        {
          type: MountType.MOUNT_TYPE_VOLUME,
          source: 'data',
          target: '/data',
          volumeOptions: { driverConfig: { name: 'nfs', options: {} } },
        },
      ],
    });
    executor.run(v);
    expect((await reach(v.id, S.TASK_STATE_COMPLETE)).err).toMatch(
      /^spec\.containerSpec\.mounts\[0\]\.volume_options\.driver_config\.name: the volume driver "nfs"/,
    );
    expect(engine.list({ all: true }).length).toBe(before);
    expect(engine.volumes.list()).toEqual([]);
  });

  it("a volume mount uses the node's local volume; the task's anonymous volume goes with the task", async () => {
    const t = task({
      command: ['sh', '-c', 'echo from-task > /data/f; echo anon > /scratch/f'],
      mounts: [
        { type: MountType.MOUNT_TYPE_VOLUME, source: 'svc-data', target: '/data' },
        { type: MountType.MOUNT_TYPE_VOLUME, target: '/scratch' },
      ],
    });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_COMPLETE);
    expect(engine.volumes.list().length).toBe(2);
    await executor.remove(t.id);
    expect(engine.volumes.list().map((v) => v.name)).toEqual(['svc-data']);
    expect(readFileSync(join(engine.volumes.get('svc-data').mountpoint, 'f'), 'utf8')).toBe('from-task\n');
    await engine.volumes.remove('svc-data');
  });

  it('an engine refusal at create (unknown capability) is REJECTED with its message', async () => {
    const t = task({ command: ['true'], capabilityAdd: ['CAP_NOPE'] });
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_REJECTED);
    expect(s.err).toMatch(/capAdd|CAP_NOPE/);
  });

  it('a task over its memory limit is FAILED "OOM killed"', async () => {
    // tail keeps the current "line" in memory: /dev/zero has no newline, so it grows until killed.
    const t = task({ command: ['tail', '/dev/zero'] }, {});
    t.spec!.resources = {
      limits: { nanoCpus: 0, memoryBytes: 16 * 1024 * 1024, pids: 0 },
      reservations: undefined,
    };
    executor.run(t);
    const s = await reach(t.id, S.TASK_STATE_COMPLETE);
    expect(s.state).toBe(S.TASK_STATE_FAILED);
    expect(s.err).toBe('task: non-zero exit (137): OOM killed');
    expect(s.containerStatus?.exitCode).toBe(137);
    await executor.remove(t.id);
  });

  it('a healthy task is STARTING until its probe passes; a failing probe makes it FAILED unhealthy', async () => {
    const hc = (test: string[]) => ({
      test,
      interval: { seconds: 0, nanos: 200_000_000 },
      timeout: { seconds: 5, nanos: 0 },
      retries: 2,
    });
    const ok = task({ command: ['sleep', '30'], healthcheck: hc(['CMD-SHELL', 'test -d /bin']) });
    const bad = task({ command: ['sleep', '30'], healthcheck: hc(['CMD', 'false']) });
    // A probe that would pass, but only after its timeout: killed and counted as a failure.
    const slow = task({
      command: ['sleep', '30'],
      healthcheck: { ...hc(['CMD', 'sleep', '3']), timeout: { seconds: 0, nanos: 300_000_000 }, retries: 1 },
    });
    executor.run(ok);
    executor.run(bad);
    executor.run(slow);
    const running = await reach(ok.id, S.TASK_STATE_RUNNING);
    expect(running.state).toBe(S.TASK_STATE_RUNNING);
    const failed = await reach(bad.id, S.TASK_STATE_COMPLETE);
    expect(failed.state).toBe(S.TASK_STATE_FAILED);
    expect(failed.err).toBe('task: non-zero exit (137): unhealthy container');
    // Never RUNNING: it never became healthy.
    expect(of(bad.id).map((s) => s.state)).not.toContain(S.TASK_STATE_RUNNING);
    expect(engine.inspect(failed.containerStatus!.containerId).state.running).toBe(false);
    const timedOut = await reach(slow.id, S.TASK_STATE_COMPLETE);
    expect(timedOut.err).toBe('task: non-zero exit (137): unhealthy container');
    expect(of(slow.id).map((s) => s.state)).not.toContain(S.TASK_STATE_RUNNING);
    await executor.remove(slow.id);
    await executor.remove(bad.id);
    await executor.remove(ok.id);
  });

  it('restore after a restart reports a running task RUNNING and one that died while away FAILED', async () => {
    const live = task({ command: ['sleep', '30'] });
    const dies = task({ command: ['sleep', '30'] });
    executor.run(live);
    executor.run(dies);
    const a = (await reach(live.id, S.TASK_STATE_RUNNING)).containerStatus!;
    const b = (await reach(dies.id, S.TASK_STATE_RUNNING)).containerStatus!;

    // The worker goes away; the containers keep running; one is killed meanwhile.
    await executor.close();
    await engine.close();
    process.kill(b.pid, 'SIGKILL');
    await until(() => !pidAlive(b.pid), 'the killed task to die');

    engine = await env.open();
    executor = newExecutor(engine);
    reports.length = 0;
    const found = await executor.restore();
    const byId = new Map(found.map((r) => [r.taskId, r.status]));
    expect(byId.get(live.id)?.state).toBe(S.TASK_STATE_RUNNING);
    expect(byId.get(live.id)?.containerStatus).toMatchObject({ containerId: a.containerId, pid: a.pid });
    expect(byId.get(dies.id)?.state).toBe(S.TASK_STATE_FAILED);
    expect(byId.get(dies.id)?.err).toBe('task: non-zero exit (137)');
    expect(byId.get(dies.id)?.containerStatus?.exitCode).toBe(137);

    // The agent hands its copy back: no new container, and the adopted one still stops on request.
    const count = engine.list({ all: true }).length;
    executor.run(live);
    expect(engine.list({ all: true }).length).toBe(count);
    await executor.shutdown(live.id);
    expect(executor.status(live.id)?.state).toBe(S.TASK_STATE_SHUTDOWN);
    expect(pidAlive(a.pid)).toBe(false);
    await executor.remove(live.id);
    await executor.remove(dies.id);
    expect(traces(env, a.containerId)).toEqual([]);
  });
});

describe('engine port: health probes through exec', () => {
  it('returns the exit code and output, and kills a probe that outlives its timeout', async () => {
    ensureFixture();
    const { id } = await engine.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '30'] });
    await engine.start(id);
    const port = enginePort(engine);
    expect(await port.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 4'], 30_000)).toEqual({
      exitCode: 4,
      output: 'out\nerr\n',
      timedOut: false,
    });
    expect(await port.exec(id, ['sleep', '300'], 300)).toMatchObject({ timedOut: true });
    const cmdline = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        return '';
      }
    };
    await until(
      async () => !(await engine.top(id)).some((p) => cmdline(p).includes('sleep 300')),
      'the probe to be killed',
    );
    await engine.remove(id, { force: true });
  });
});

describe('image from a registry', () => {
  it('pulls an image missing locally from the registry its reference names, then runs it', async () => {
    const reg = await startRegistry();
    const dir = mkdtempSync('/tmp/sx-img2-');
    const other = new Executor({
      engine: enginePort(engine),
      images: imagePort(await ImageStore.open(dir), { retries: 0 }),
    });
    const seen: StatusReport[] = [];
    other.onStatus((r) => seen.push(r));
    try {
      const ref = `${reg.host}/shoal/bb:1`;
      await store.tag('busybox', ref);
      await pushImage(store, ref, { retries: 0 });
      const t = task({ image: ref, command: ['sleep', '30'] });
      other.run(t);
      await until(
        () => seen.some((r) => r.status.state >= S.TASK_STATE_RUNNING),
        'the pulled task to run',
        90_000,
      );
      const s = seen.at(-1)!.status;
      expect(s.state).toBe(S.TASK_STATE_RUNNING);
      expect(engine.inspect(s.containerStatus!.containerId).image).toBe(ref);
      await other.remove(t.id);
    } finally {
      await other.close();
      await reg.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
