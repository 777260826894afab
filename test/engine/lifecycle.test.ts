// ContainerManager with real containers from the busybox fixture: run, config seen inside,
// mounts, stop/kill, pause, stats, auto-remove, removal leaving nothing behind.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  type ContainerManager,
  type CreateOptions,
  NotFoundError,
} from '../../worker/engine/index.js';
import { collectLogs, type Env, ensureFixture, makeEnv, pidAlive, ROOTFS, traces, until } from './helpers.js';

beforeAll(ensureFixture);

let env: Env;
afterEach(async () => {
  await env?.cleanup();
});

async function runToEnd(
  m: ContainerManager,
  opts: Omit<CreateOptions, 'rootfs'> & { rootfs?: CreateOptions['rootfs'] },
) {
  const { id } = await m.create({ rootfs: { dir: ROOTFS }, ...opts });
  const exited = m.wait(id, 'next-exit');
  await m.start(id);
  const result = await exited;
  const logs = await collectLogs(m.logs(id));
  return { id, result, ...logs };
}

describe('ContainerManager lifecycle', () => {
  it('runs a command to completion and reports its exit code and state', async () => {
    env = makeEnv();
    const m = await env.open();
    const events: string[] = [];
    m.on('event', (e) => events.push(e.action));
    const { id, result, stdout } = await runToEnd(m, {
      name: 'first',
      cmd: ['sh', '-c', 'echo hello; exit 3'],
    });
    expect(result).toEqual({ exitCode: 3, signal: null, oomKilled: false });
    expect(stdout).toBe('hello\n');
    const c = m.inspect('first');
    expect(c.id).toBe(id);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(m.inspect(id.slice(0, 12)).name).toBe('first');
    expect(c.state).toMatchObject({ status: 'exited', running: false, exitCode: 3, pid: 0 });
    expect(Date.parse(c.state.finishedAt)).toBeGreaterThanOrEqual(Date.parse(c.state.startedAt));
    expect(c.path).toBe('sh');
    expect(c.args).toEqual(['-c', 'echo hello; exit 3']);
    expect(events).toEqual(['create', 'start', 'die']);
    expect(m.list().map((x) => x.id)).not.toContain(id);
    expect(m.list({ all: true }).map((x) => x.id)).toContain(id);
    // Runtime state goes soon after the exit; the record stays until removal.
    await until(() => traces(env, id).length === 1, 'runtime cleanup after exit');
    expect(traces(env, id)).toEqual([`bundle dir of ${id}`]);
    // An exited container starts again with its log kept.
    const again = m.wait(id, 'next-exit');
    await m.start(id);
    expect((await again).exitCode).toBe(3);
    expect((await collectLogs(m.logs(id))).stdout).toBe('hello\nhello\n');
  });

  it('the default seccomp filter is compiled at open, so a default container finds it in the cache', async () => {
    env = makeEnv();
    const m = await env.open();
    await m.seccompPrepared();
    const cache = join(env.execRoot, 'runtime', '.seccomp-cache');
    const prepared = readdirSync(cache);
    expect(prepared).toHaveLength(1);
    expect(prepared[0]).toMatch(/\.bpf$/);
    // a default container's filter is that one (no second entry); --cap-add makes another
    expect((await runToEnd(m, { cmd: ['true'] })).result.exitCode).toBe(0);
    expect(readdirSync(cache)).toEqual(prepared);
    expect((await runToEnd(m, { cmd: ['true'], capAdd: ['SYS_PTRACE'] })).result.exitCode).toBe(0);
    expect(readdirSync(cache)).toHaveLength(2);
  });

  it('shows env, workdir, user with supplementary groups, and hostname inside', async () => {
    env = makeEnv();
    const m = await env.open();
    const { stdout, result } = await runToEnd(m, {
      cmd: [
        'sh',
        '-c',
        'echo "$FOO|$HOME"; pwd; id -u; id -g; id -G; hostname; cat /proc/self/status | grep NoNewPrivs',
      ],
      env: ['FOO=bar baz'],
      workingDir: '/tmp',
      user: 'app',
      hostname: 'box1',
      securityOpt: ['no-new-privileges'],
    });
    expect(result.exitCode).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('bar baz|/home/app');
    expect(lines[1]).toBe('/tmp');
    expect(lines[2]).toBe('1000');
    expect(lines[3]).toBe('1000');
    expect(lines[4].split(' ').sort()).toEqual(['10', '1000', '29']);
    expect(lines[5]).toBe('box1');
    expect(lines[6]).toMatch(/NoNewPrivs:\s+1/);
    const numeric = await runToEnd(m, { cmd: ['sh', '-c', 'id -u; id -g'], user: '4242:77' });
    expect(numeric.stdout).toBe('4242\n77\n');
    const limits = await runToEnd(m, {
      cmd: ['sh', '-c', 'ulimit -n; ulimit -Hn'],
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
    });
    expect(limits.stdout).toBe('1024\n2048\n');
  });

  it('capabilities, privileged mode and network modes reach the process', async () => {
    env = makeEnv();
    const m = await env.open();
    const caps = async (opts: Omit<CreateOptions, 'rootfs'>) =>
      (
        await runToEnd(m, { cmd: ['sh', '-c', 'grep CapEff /proc/self/status | cut -f2'], ...opts })
      ).stdout.trim();
    expect(await caps({})).toBe('00000000a80425fb'); // docker's default set
    expect(await caps({ capAdd: ['net_admin'], capDrop: ['CAP_CHOWN'] })).toBe('00000000a80435fa');
    // Privileged: everything the daemon itself may hold (its bounding set).
    const bounding = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    expect(await caps({ privileged: true })).toBe(bounding);
    const ifaces = async (networkMode: string) =>
      (
        await runToEnd(m, { cmd: ['sh', '-c', 'ls /sys/class/net | sort | tr "\\n" " "'], networkMode })
      ).stdout.trim();
    expect(await ifaces('none')).toBe('lo');
    const hostIfaces = readdirSync('/sys/class/net').sort().join(' ');
    expect(await ifaces('host')).toBe(hostIfaces);
  });

  it('cpu, memory and pids limits land in the container cgroups', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sleep', '1000'],
      cpus: '1.5',
      cpuShares: 512,
      cpusetCpus: '0',
      memory: '48m',
      pidsLimit: 7,
    });
    await m.start(id);
    const { cgroupPaths } = JSON.parse(readFileSync(join(env.execRoot, 'runtime', id, 'state.json'), 'utf8'));
    const read = (ctl: string, file: string) => readFileSync(join(cgroupPaths[ctl], file), 'utf8').trim();
    if (cgroupPaths.cpu) {
      // cgroup v1 (this machine); v2 would show the same numbers in cpu.max / cpu.weight.
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('150000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
      expect(read('cpu', 'cpu.shares')).toBe('512');
      expect(read('cpuset', 'cpuset.cpus')).toBe('0');
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(48 * 1024 * 1024));
      expect(read('pids', 'pids.max')).toBe('7');
    } else {
      const unified = (file: string) =>
        readFileSync(join(Object.values(cgroupPaths)[0] as string, file), 'utf8').trim();
      expect(unified('cpu.max')).toBe('150000 100000');
      expect(unified('memory.max')).toBe(String(48 * 1024 * 1024));
      expect(unified('pids.max')).toBe('7');
    }
  });

  it('maps users through a user namespace when asked', async () => {
    env = makeEnv();
    const m = await env.open();
    const { stdout } = await runToEnd(m, {
      cmd: ['sh', '-c', 'id -u; cat /proc/self/uid_map | tr -s " "'],
      usernsRemap: { hostUid: 100000, hostGid: 100000, size: 65536 },
    });
    expect(stdout).toBe('0\n 0 100000 65536\n');
  });

  it('restart gives a new process; rename keeps the container', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, name: 'before', cmd: ['sleep', '1000'] });
    await m.start(id);
    const pid1 = m.inspect(id).state.pid;
    await m.restart(id, { timeoutSec: 0 });
    const c = m.inspect(id);
    expect(c.state.status).toBe('running');
    expect(c.state.pid).not.toBe(pid1);
    expect(c.restartCount).toBe(0); // as dockerd: a user's restart starts the count over
    await m.rename(id, 'after');
    expect(m.inspect('after').id).toBe(id);
    expect(() => m.inspect('before')).toThrow(NotFoundError);
    const other = await m.create({ rootfs: { dir: ROOTFS }, name: 'other', cmd: ['true'] });
    await expect(m.rename(other.id, 'after')).rejects.toBeInstanceOf(ConflictError);
  });

  it('bind mounts (rw and ro), tmpfs, and a read-only rootfs', async () => {
    env = makeEnv();
    const m = await env.open();
    const rw = mkdtempSync('/tmp/se-rw-');
    const ro = mkdtempSync('/tmp/se-ro-');
    writeFileSync(join(ro, 'in.txt'), 'from host\n');
    try {
      const { stdout, stderr, result } = await runToEnd(m, {
        cmd: [
          'sh',
          '-c',
          'echo written > /rw/out.txt; cat /ro/in.txt; touch /ro/x 2>/dev/null && echo ro-writable; ' +
            'echo t > /scratch/f && grep " /scratch " /proc/mounts | cut -d" " -f3; ' +
            'touch /rootfile 2>/dev/null && echo rootfs-writable; echo done',
        ],
        binds: [`${rw}:/rw`, `${ro}:/ro:ro`],
        tmpfs: ['/scratch:size=1m'],
        readOnly: true,
      });
      expect(result.exitCode).toBe(0);
      expect(stderr).toBe('');
      expect(stdout).toBe('from host\ntmpfs\ndone\n');
      expect(readFileSync(join(rw, 'out.txt'), 'utf8')).toBe('written\n');
    } finally {
      rmSync(rw, { recursive: true, force: true });
      rmSync(ro, { recursive: true, force: true });
    }
  });

  it('an overlay rootfs from layers: writes land in the container upper dir, not in the layer', async () => {
    env = makeEnv();
    const m = await env.open();
    const top = mkdtempSync('/tmp/se-layer-');
    mkdirSync(join(top, 'etc'));
    writeFileSync(join(top, 'etc', 'motd'), 'top layer\n');
    try {
      const { id, stdout, result } = await runToEnd(m, {
        rootfs: {
          layers: [top, ROOTFS],
          imageConfig: { Cmd: ['sh', '-c', 'cat /etc/motd; echo x > /new; id -un'], User: 'app' },
        },
        user: 'root',
      });
      expect(result.exitCode).toBe(0);
      expect(stdout).toBe('top layer\nroot\n');
      const c = m.inspect(id);
      expect(readFileSync(join(c.bundle, 'upper', 'new'), 'utf8')).toBe('x\n');
      expect(() => readFileSync(join(ROOTFS, 'new'))).toThrow();
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
      // The image's user is resolved through the layers; a read-only overlay rootfs rejects writes.
      const ro = await runToEnd(m, {
        rootfs: {
          layers: [top, ROOTFS],
          imageConfig: { Cmd: ['sh', '-c', 'id -un; touch /x || echo ro'], User: 'app' },
        },
        readOnly: true,
      });
      expect(ro.stdout).toBe('app\nro\n');
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });

  it('stop sends the stop signal, then SIGKILL after the grace period', async () => {
    env = makeEnv();
    const m = await env.open();
    // busybox sleep as PID 1 ignores SIGTERM: only the SIGKILL after the grace period ends it.
    const { id: stubborn } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    const { id: polite } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'trap "exit 42" TERM; echo ready; while true; do sleep 0.05; done'],
    });
    await m.start(stubborn);
    await m.start(polite);
    await until(async () => (await collectLogs(m.logs(polite))).stdout === 'ready\n', 'the trap to be set');
    await Promise.all([m.stop(stubborn, { timeoutSec: 1 }), m.stop(polite, { timeoutSec: 30 })]);
    expect(m.inspect(stubborn).state).toMatchObject({ status: 'exited', exitCode: 137, signal: 'SIGKILL' });
    expect(m.inspect(polite).state).toMatchObject({ status: 'exited', exitCode: 42, signal: null });
    // Stopping a stopped container is a no-op, as docker's 304.
    await m.stop(stubborn);
  });

  it('kill delivers the given signal; default SIGKILL; not running is a conflict', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'trap "exit 7" USR1; echo ready; while true; do sleep 0.05; done'],
    });
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    // The trap must be in place first: PID 1 ignores signals it has no handler for.
    await until(async () => (await collectLogs(m.logs(id))).stdout === 'ready\n', 'the trap to be set');
    await expect(m.kill(id, 'NOPE')).rejects.toThrow(/unknown signal/);
    await m.kill(id, 'USR1');
    expect((await exited).exitCode).toBe(7);
    await expect(m.kill(id)).rejects.toBeInstanceOf(ConflictError);
    const { id: id2 } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    await m.start(id2);
    const e2 = m.wait(id2);
    await m.kill(id2);
    expect(await e2).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('pause and unpause freeze and thaw; stats report memory, cpu and pids', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'i=0; while true; do i=$((i+1)); done'],
      memory: '64m',
      pidsLimit: 50,
    });
    await m.start(id);
    const s = await m.stats(id);
    expect(s.memory.usage).toBeGreaterThan(0);
    expect(s.memory.limit).toBe(64 * 1024 * 1024);
    expect(s.pids).toEqual({ current: 1, limit: 50 });
    expect(s.onlineCpus).toBeGreaterThan(0);
    await m.pause(id);
    expect(m.inspect(id).state).toMatchObject({ status: 'paused', paused: true, running: true });
    expect(() => m.execCreate(id, { cmd: ['true'] })).toThrow(/paused/);
    await expect(m.pause(id)).rejects.toBeInstanceOf(ConflictError);
    const frozen1 = (await m.stats(id)).cpu.usageNs;
    await new Promise((r) => setTimeout(r, 200));
    const frozen2 = (await m.stats(id)).cpu.usageNs;
    expect(frozen2).toBe(frozen1); // no cpu time while frozen
    await m.unpause(id);
    expect(m.inspect(id).state.status).toBe('running');
    await new Promise((r) => setTimeout(r, 100));
    expect((await m.stats(id)).cpu.usageNs).toBeGreaterThan(frozen2);
    await expect(m.remove(id)).rejects.toThrow(/cannot remove a running container/);
  });

  it('reports a container killed by the OOM killer as OOMKilled', async () => {
    env = makeEnv();
    const m = await env.open();
    const events: string[] = [];
    m.on('event', (e) => events.push(e.action));
    // dd allocates its 64 MiB block at once: far over the 16 MiB limit with swap disabled.
    const { result } = await runToEnd(m, {
      cmd: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
      memory: '16m',
    });
    expect(result).toMatchObject({ oomKilled: true, exitCode: 137 });
    expect(events).toContain('oom');
  });

  it('auto-remove removes the container after it exits', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sh', '-c', 'exit 4'], autoRemove: true });
    const removed = m.wait(id, 'removed');
    await m.start(id);
    expect((await removed).exitCode).toBe(4);
    expect(() => m.inspect(id)).toThrow(NotFoundError);
    expect(traces(env, id)).toEqual([]);
  });

  it('remove --force of a running container leaves no cgroup, state, bundle, mount or monitor', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sleep', '1000'],
      memory: '32m',
      pidsLimit: 10,
    });
    await m.start(id);
    const state = JSON.parse(readFileSync(join(env.execRoot, 'runtime', id, 'state.json'), 'utf8'));
    const { monitorPid, pid } = state as { monitorPid: number; pid: number };
    expect(pidAlive(monitorPid)).toBe(true);
    expect(pidAlive(pid)).toBe(true);
    expect(traces(env, id).some((t) => t.startsWith('cgroup'))).toBe(true);
    const events: string[] = [];
    m.on('event', (e) => events.push(e.action));
    await m.remove(id, { force: true });
    expect(events).toEqual(['kill', 'die', 'destroy']);
    expect(traces(env, id)).toEqual([]);
    expect(pidAlive(pid)).toBe(false);
    expect(pidAlive(monitorPid)).toBe(false);
    expect(() => m.inspect(id)).toThrow(NotFoundError);
  });

  it('removes a created (never started) container and frees its name', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, name: 'reuse', cmd: ['true'] });
    expect(m.inspect('reuse').state.status).toBe('created');
    // Docker's conditions: a created container is "not running" already; "removed" waits for rm.
    expect(await m.wait(id, 'not-running')).toEqual({ exitCode: 0, signal: null, oomKilled: false });
    const removed = m.wait(id, 'removed');
    await expect(m.wait(id, 'sideways' as never)).rejects.toThrow(/condition/);
    await expect(m.create({ rootfs: { dir: ROOTFS }, name: 'reuse', cmd: ['true'] })).rejects.toThrow(
      /already in use/,
    );
    await m.remove(id);
    expect((await removed).exitCode).toBe(0);
    expect(traces(env, id)).toEqual([]);
    const again = await m.create({ rootfs: { dir: ROOTFS }, name: '/reuse', cmd: ['true'] });
    expect(again.name).toBe('reuse');
  });
});
