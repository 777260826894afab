import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError } from './errors.js';
import { EXEC_RETENTION, type ExecRecord, ExecTable } from './exec.js';
import type { MonitorClient } from './monitor-client.js';
import { ALL_CAPABILITIES, baseSpec } from './spec/defaults.js';

const root = mkdtempSync(join(tmpdir(), 'shoal-exec-'));
mkdirSync(join(root, 'etc'));
writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
writeFileSync(join(root, 'etc/group'), 'root:x:0:\nwheel:x:10:app\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const table = () => new ExecTable(() => `exec${++n}`);

describe('ExecTable', () => {
  it('builds the exec process from the container spec and the exec options', () => {
    const t = table();
    const spec = baseSpec('/r');
    spec.process.env = ['PATH=/bin', 'A=1'];
    spec.process.cwd = '/srv';
    spec.process.noNewPrivileges = true;
    spec.process.user = { uid: 5, gid: 6, additionalGids: [7] };
    const id = t.add('c1', { cmd: ['sh'], env: ['A=2', 'B=3'] });
    const ctx = { spec, rootfsLayers: [root], tty: false, configEnv: [], privilegedCaps: ALL_CAPABILITIES };
    const p = t.processFor(t.get(id), ctx);
    expect(p).toMatchObject({
      terminal: false,
      user: { uid: 5, gid: 6, additionalGids: [7] },
      args: ['sh'],
      env: ['PATH=/bin', 'A=2', 'B=3'],
      cwd: '/srv',
      noNewPrivileges: true,
    });
    expect(p.capabilities).toEqual(spec.process.capabilities);
    const asApp = t.processFor(
      t.get(t.add('c1', { cmd: ['id'], user: 'app', workingDir: '/tmp', privileged: true })),
      { ...ctx, tty: true, privilegedCaps: ['CAP_KILL'] },
    );
    expect(asApp.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10] });
    expect(asApp.cwd).toBe('/tmp');
    expect(asApp.env).toContain('TERM=xterm');
    expect(asApp.env).toContain('HOME=/home/app');
    expect(asApp.capabilities?.effective).toEqual(['CAP_KILL']);
    // A HOME the user set on the container stays.
    spec.process.env = ['PATH=/bin', 'HOME=/data'];
    const kept = t.processFor(t.get(t.add('c1', { cmd: ['id'], user: 'app' })), {
      ...ctx,
      configEnv: ['HOME=/data'],
    });
    expect(kept.env).toEqual(['PATH=/bin', 'HOME=/data']);
    expect(() => t.processFor(t.get(t.add('c1', { cmd: ['id'], user: 'ghost' })), ctx)).toThrow(/ghost/);
  });
  it('tracks execs per container and forgets them with it', () => {
    const t = table();
    const a = t.add('c1', { cmd: ['a'] });
    const b = t.add('c2', { cmd: ['b'] });
    expect(t.idsOf('c1')).toEqual([a]);
    t.containerRemoved('c1');
    expect(() => t.get(a)).toThrow(NotFoundError);
    expect(t.get(b).containerId).toBe('c2');
  });

  it('keeps a finished exec inspectable for the retention, then forgets it', () => {
    let now = 1_000;
    const t = new ExecTable(
      () => `exec${++n}`,
      () => now,
      { keepFinishedMs: 60_000, maxFinishedPerContainer: 10 },
    );
    const id = t.add('c1', { cmd: ['true'] });
    const ex = started(t.get(id));
    now += 5_000;
    t.finished(ex, 0);
    expect(ex).toMatchObject({ running: false, exitCode: 0, finishedAt: 6_000 });
    t.finished(ex); // a later report changes neither the code nor when it finished
    expect(ex).toMatchObject({ exitCode: 0, finishedAt: 6_000 });

    now += 59_999;
    t.add('c2', { cmd: ['x'] }); // adding prunes, over every container
    expect(t.get(id).exitCode).toBe(0);
    now += 1;
    t.add('c2', { cmd: ['x'] });
    expect(() => t.get(id)).toThrow(NotFoundError);
    expect(t.idsOf('c1')).toEqual([]);
  });

  it('caps the finished execs of a container, oldest first; unstarted and running ones stay', () => {
    let now = 0;
    const t = new ExecTable(
      () => `exec${++n}`,
      () => now,
      { keepFinishedMs: 3_600_000, maxFinishedPerContainer: 3 },
    );
    const idle = t.add('c1', { cmd: ['never', 'started'] });
    const running = t.add('c1', { cmd: ['sleep'] });
    started(t.get(running));
    const other = t.add('c2', { cmd: ['probe'] });
    t.finished(started(t.get(other)), 0);
    const probes: string[] = [];
    for (let i = 0; i < 6; i++) {
      now += 1_000;
      const id = t.add('c1', { cmd: ['probe'] });
      probes.push(id);
      t.finished(started(t.get(id)), i);
    }
    // the three newest probes, the running and the unstarted exec; the other container's is untouched
    expect(t.idsOf('c1').sort()).toEqual([idle, running, ...probes.slice(3)].sort());
    for (const id of probes.slice(0, 3)) expect(() => t.get(id)).toThrow(NotFoundError);
    expect(t.get(other).exitCode).toBe(0);
    expect(t.get(running).running).toBe(true);
  });

  it('records when an exec was seen to finish: from the monitor, its absence, or the container exiting', async () => {
    let now = 100;
    const t = new ExecTable(
      () => `exec${++n}`,
      () => now,
    );
    const monitor = (answer: () => Promise<{ running: boolean; pid: number; exitCode: number | null }>) =>
      ({ execState: answer }) as unknown as MonitorClient;

    const a = started(t.get(t.add('c1', { cmd: ['a'] })));
    await t.refresh(
      a,
      monitor(async () => ({ running: true, pid: 42, exitCode: null })),
    );
    expect(a).toMatchObject({ running: true, pid: 42 });
    expect(a.finishedAt).toBeUndefined();
    now = 200;
    await t.refresh(
      a,
      monitor(async () => ({ running: false, pid: 42, exitCode: 3 })),
    );
    expect(a).toMatchObject({ running: false, exitCode: 3, finishedAt: 200 });

    const b = started(t.get(t.add('c1', { cmd: ['b'] })));
    now = 300;
    await t.refresh(
      b,
      monitor(() => Promise.reject(new Error('monitor gone'))),
    );
    expect(b).toMatchObject({ running: false, exitCode: null, finishedAt: 300 });

    const c = started(t.get(t.add('c1', { cmd: ['c'] })));
    const unstarted = t.get(t.add('c1', { cmd: ['d'] }));
    now = 400;
    t.containerExited('c1');
    expect(c).toMatchObject({ running: false, finishedAt: 400 });
    expect(a.finishedAt).toBe(200); // already finished: unchanged
    expect(unstarted.finishedAt).toBeUndefined(); // never ran: nothing finished
  });

  it('defaults to docker-like retention: minutes, and a cap a one-second probe cannot outgrow', () => {
    expect(EXEC_RETENTION.keepFinishedMs).toBeGreaterThanOrEqual(60_000);
    expect(EXEC_RETENTION.maxFinishedPerContainer).toBeGreaterThan(0);
    let now = 0;
    const t = new ExecTable(
      () => `exec${++n}`,
      () => now,
    );
    // a container probed every second for an hour
    for (let i = 0; i < 3_600; i++) {
      now += 1_000;
      t.finished(started(t.get(t.add('c1', { cmd: ['probe'] }))), 0);
    }
    expect(t.idsOf('c1')).toHaveLength(EXEC_RETENTION.maxFinishedPerContainer);
  });
});

/** What startExec does to a record once the monitor ran the process. */
function started(ex: ExecRecord): ExecRecord {
  ex.started = true;
  ex.running = true;
  ex.monitorExecId = `m-${ex.id}`;
  return ex;
}
