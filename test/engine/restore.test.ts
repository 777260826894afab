// Live restore: a second ContainerManager on the same dirs finds running containers, reads their
// logs and gets their exit codes, also for a container that exited while no manager existed.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collectLogs, type Env, ensureFixture, makeEnv, pidAlive, ROOTFS, traces, until } from './helpers.js';

beforeAll(ensureFixture);

let env: Env;
let ctl: string;
afterEach(async () => {
  await env?.cleanup();
  rmSync(ctl, { recursive: true, force: true });
});

// The container prints, then waits for /ctl/go (a bind-mounted host dir) before exiting 9.
const gated = ['sh', '-c', 'echo before; while [ ! -e /ctl/go ]; do sleep 0.05; done; echo after; exit 9'];

describe('live restore', () => {
  it('a new manager finds a running container, follows its logs and gets its exit code', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({
      rootfs: { dir: ROOTFS },
      name: 'survivor',
      cmd: gated,
      binds: [`${ctl}:/ctl`],
    });
    await m1.start(id);
    await until(async () => (await collectLogs(m1.logs(id))).stdout === 'before\n', 'first output');
    const pid = m1.inspect(id).state.pid;
    await m1.close(); // as if shoald was killed: the container keeps running

    const m2 = await env.open();
    const c = m2.inspect('survivor');
    expect(c.state).toMatchObject({ status: 'running', running: true, pid });
    expect(m2.list().map((x) => x.id)).toEqual([id]);
    const follow = collectLogs(m2.logs(id, { follow: true }));
    const exited = m2.wait(id);
    writeFileSync(join(ctl, 'go'), '');
    expect(await exited).toEqual({ exitCode: 9, signal: null, oomKilled: false });
    expect((await follow).stdout).toBe('before\nafter\n');
    expect(m2.inspect(id).state.status).toBe('exited');
    await until(() => traces(env, id).length === 1, 'runtime cleanup after exit');
    expect(traces(env, id)).toEqual([`bundle dir of ${id}`]);
  });

  it('a container that exits while no manager runs reports its real exit code', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({ rootfs: { dir: ROOTFS }, cmd: gated, binds: [`${ctl}:/ctl`] });
    await m1.start(id);
    await m1.close();
    writeFileSync(join(ctl, 'go'), '');
    const exitFile = join(env.execRoot, 'runtime', id, 'exit.json');
    await until(() => existsSync(exitFile), 'exit.json');

    const m2 = await env.open();
    const result = await m2.wait(id, 'not-running');
    expect(result).toEqual({ exitCode: 9, signal: null, oomKilled: false });
    expect(m2.inspect(id).state).toMatchObject({ status: 'exited', exitCode: 9 });
    expect((await collectLogs(m2.logs(id))).stdout).toBe('before\nafter\n');
    await m2.remove(id);
    expect(traces(env, id)).toEqual([]);
  });

  it('an attached client that vanished with its manager does not lose the exit code', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({ rootfs: { dir: ROOTFS }, cmd: gated, binds: [`${ctl}:/ctl`] });
    const stream = await m1.attach(id, { stdout: true, stderr: true });
    stream.resume();
    await m1.start(id);
    await until(async () => (await collectLogs(m1.logs(id))).stdout === 'before\n', 'first output');
    stream.destroy(); // as when shoald is killed: no half-close, the socket just goes
    await m1.close();
    const m2 = await env.open();
    const exited = m2.wait(id);
    writeFileSync(join(ctl, 'go'), '');
    expect(await exited).toEqual({ exitCode: 9, signal: null, oomKilled: false });
    expect((await collectLogs(m2.logs(id))).stdout).toBe('before\nafter\n');
  });

  it('an auto-remove container that exited while no manager ran is removed on restore', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({
      rootfs: { dir: ROOTFS },
      cmd: gated,
      binds: [`${ctl}:/ctl`],
      autoRemove: true,
    });
    await m1.start(id);
    await m1.close();
    writeFileSync(join(ctl, 'go'), '');
    await until(() => existsSync(join(env.execRoot, 'runtime', id, 'exit.json')), 'exit.json');
    const m2 = await env.open();
    expect(() => m2.inspect(id)).toThrow(/No such container/);
    expect(traces(env, id)).toEqual([]);
  });

  it('a monitor killed with SIGKILL: the container is reported dead-exited and nothing is left', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    await m1.start(id);
    const { monitorPid, pid } = JSON.parse(
      readFileSync(join(env.execRoot, 'runtime', id, 'state.json'), 'utf8'),
    );
    await m1.close();
    process.kill(monitorPid, 'SIGKILL');
    await until(() => !pidAlive(monitorPid), 'the monitor to die');

    const m2 = await env.open();
    const result = await m2.wait(id);
    expect(result.exitCode).toBe(255);
    expect(result.error).toMatch(/monitor disappeared/);
    expect(m2.inspect(id).state.status).toBe('exited');
    await until(() => traces(env, id).length === 1, 'runtime cleanup');
    expect(pidAlive(pid)).toBe(false); // the orphaned init was killed with its cgroup
    await m2.remove(id);
    expect(traces(env, id)).toEqual([]);
  });

  it('a create interrupted before its record was written is cleaned up on restore', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'], memory: '32m' });
    await m1.close();
    // As if the daemon died between `shoal-runtime create` and the record write.
    rmSync(join(env.dataRoot, 'containers', id, 'container.json'));
    expect(traces(env, id).length).toBeGreaterThan(1);
    const m2 = await env.open();
    expect(m2.list({ all: true })).toEqual([]);
    expect(traces(env, id)).toEqual([]);
  });

  it('a created container whose monitor vanished (host reboot) stays created and starts', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const m1 = await env.open();
    const { id } = await m1.create({ rootfs: { dir: ROOTFS }, cmd: ['sh', '-c', 'exit 6'] });
    const { monitorPid } = JSON.parse(readFileSync(join(env.execRoot, 'runtime', id, 'state.json'), 'utf8'));
    await m1.close();
    process.kill(monitorPid, 'SIGKILL');
    await until(() => !pidAlive(monitorPid), 'the monitor to die');
    const m2 = await env.open();
    expect(m2.inspect(id).state.status).toBe('created');
    const exited = m2.wait(id, 'next-exit');
    await m2.start(id);
    expect((await exited).exitCode).toBe(6);
  });

  it('two managers with different roots do not see each other', async () => {
    env = makeEnv();
    ctl = mkdtempSync('/tmp/se-ctl-');
    const other = makeEnv();
    try {
      const a = await env.open();
      const b = await other.open();
      const { id } = await a.create({ rootfs: { dir: ROOTFS }, name: 'same', cmd: ['sleep', '1000'] });
      const { id: id2 } = await b.create({ rootfs: { dir: ROOTFS }, name: 'same', cmd: ['sleep', '1000'] });
      await a.start(id);
      await b.start(id2);
      expect(a.list().map((c) => c.id)).toEqual([id]);
      expect(b.list().map((c) => c.id)).toEqual([id2]);
      await b.remove(id2, { force: true });
      expect(a.inspect(id).state.status).toBe('running');
    } finally {
      await other.cleanup();
    }
  });
});
