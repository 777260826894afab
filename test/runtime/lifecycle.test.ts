// The OCI lifecycle through shoal-runtime's verbs and the monitor's ctl.sock; every path must
// leave nothing behind.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Ctl,
  demux,
  ensureFixtures,
  leftovers,
  ROOTFS,
  RUNTIME,
  readProcState,
  run,
  Sandbox,
  until,
} from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

async function created(args: string[], edit?: Parameters<Sandbox['bundle']>[1], extra: string[] = []) {
  const { id, bundle } = sb.bundle(args, edit);
  const log = join(sb.dir, `${id}.log`);
  const r = await sb.rt(['create', '--bundle', bundle, '--log-path', log, ...extra, id]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { id, bundle, log };
}

/**
 * `create` in a mount namespace without the cgroup file system, as `ip netns exec` leaves a process (it
 * remounts /sys): the runtime then finds no cgroup controller mounted.
 */
function createWithoutCgroupFs(bundle: string, id: string) {
  const hide = 'umount -R -l /sys/fs/cgroup && exec "$0" "$@"';
  const create = ['--root', sb.root, 'create', '--bundle', bundle, '--log-path', join(sb.dir, 'log'), id];
  return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', hide, RUNTIME, ...create]);
}

/** A fresh sandbox with a started `sleep` container: what the pause and exec tests start from. */
async function running(): Promise<string> {
  sb = new Sandbox();
  const { id } = await created(['sleep', '1000']);
  await sb.rt(['start', id]);
  return id;
}

/** An OCI process object for an exec as root with a plain PATH, optionally on a terminal of a given size. */
function execProcess(args: string[], size?: { height: number; width: number }) {
  return {
    ...(size ? { terminal: true, consoleSize: size } : {}),
    user: { uid: 0, gid: 0 },
    args,
    env: ['PATH=/bin'],
    cwd: '/',
  };
}

function logLines(path: string): { log: string; stream: string; time: string }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('lifecycle', () => {
  it('create blocks the process until start; kill, wait, exit.json, delete clean up', async () => {
    sb = new Sandbox();
    const { id, log } = await created(['sh', '-c', 'echo started; echo oops >&2; exec sleep 1000']);
    const st = sb.state(id);
    expect(st.status).toBe('created');
    const pid = st.pid as number;
    const monitor = st.monitorPid as number;
    // the init has not exec'd the user process yet
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('shoal-runtime');
    expect(existsSync(log) ? readFileSync(log, 'utf8') : '').toBe('');

    expect((await sb.rt(['start', id])).code).toBe(0);
    await until(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'));
    const state = JSON.parse((await sb.rt(['state', id])).stdout);
    expect(state).toMatchObject({ id, status: 'running', pid, ociVersion: '1.0.2' });
    expect((await sb.rt(['start', id])).stderr).toMatch(/already started/);

    const ctl = await Ctl.open(sb, id);
    const waiting = ctl.request({ op: 'wait' });
    expect((await sb.rt(['kill', id, 'KILL'])).code).toBe(0);
    expect(await waiting).toMatchObject({ ok: true, exitCode: 137, signal: 'SIGKILL', oomKilled: false });
    ctl.close();
    expect(sb.exitInfo(id)).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    expect(JSON.parse((await sb.rt(['state', id])).stdout).status).toBe('stopped');

    const lines = logLines(log);
    expect(lines).toContainEqual(expect.objectContaining({ log: 'started\n', stream: 'stdout' }));
    expect(lines).toContainEqual(expect.objectContaining({ log: 'oops\n', stream: 'stderr' }));
    expect(lines[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    expect((await sb.rt(['delete', id])).code).toBe(0);
    expect(leftovers(sb, id, [pid, monitor])).toEqual([]);
    expect((await sb.rt(['state', id])).stderr).toMatch(/does not exist/);
  });

  it('refuses to delete a running container unless forced, then removes everything', async () => {
    const id = await running();
    const { pid, monitorPid } = sb.state(id) as { pid: number; monitorPid: number };
    const r = await sb.rt(['delete', id]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not stopped: running/);
    expect((await sb.rt(['delete', '--force', id])).code).toBe(0);
    expect(leftovers(sb, id, [pid, monitorPid])).toEqual([]);
  });

  it('deletes a created (never started) container', async () => {
    sb = new Sandbox();
    const { id } = await created(['true']);
    const { pid, monitorPid } = sb.state(id) as { pid: number; monitorPid: number };
    expect((await sb.rt(['delete', id])).code).toBe(0);
    expect(leftovers(sb, id, [pid, monitorPid])).toEqual([]);
  });

  it('a forced delete ends a created container that has no cgroup (no cgroup fs mounted)', async () => {
    // No cgroup is made, and killing "all" (every pid of the cgroup) must still reach the container's init.
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '1000']);
    expect(await createWithoutCgroupFs(bundle, id)).toMatchObject({ code: 0, stderr: '' });
    const state = sb.state(id) as { pid: number; monitorPid: number; cgroupPaths: object };
    expect(state.cgroupPaths).toEqual({});
    expect((await sb.rt(['delete', '--force', id], { timeoutMs: 10_000 })).code).toBe(0);
    expect(leftovers(sb, id, [state.pid, state.monitorPid])).toEqual([]);
  });

  it('refuses a limit whose cgroup controller is not mounted, naming it, and leaves nothing behind', async () => {
    sb = new Sandbox();
    for (const [controller, resources] of [
      ['cpu', { cpu: { quota: 50_000, period: 100_000 } }],
      ['memory', { memory: { reservation: 64 << 20 } }],
    ] as const) {
      const { id, bundle } = sb.bundle(['true'], (spec) => {
        spec.linux!.resources = { ...spec.linux!.resources, ...resources };
      });
      const r = await createWithoutCgroupFs(bundle, id);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`cgroup controller ${controller} is not mounted`);
      expect(leftovers(sb, id)).toEqual([]);
    }
  });

  it('runs in the foreground with the container exit code', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r).toMatchObject({ code: 7, stdout: 'out\n', stderr: 'err\n' });
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('passes stdin through an attach and closes it on half-close with stdin-once', async () => {
    sb = new Sandbox();
    const { id, log } = await created(
      ['sh', '-c', 'while read l; do echo "got $l"; done; echo eof'],
      (s) => {
        s.annotations = { 'org.shoal.stdin-once': 'true' };
      },
      ['--stdin'],
    );
    const att = await Ctl.open(sb, id);
    expect(await att.request({ op: 'attach', stdin: true, stdout: true, stderr: true })).toEqual({
      ok: true,
    });
    await sb.rt(['start', id]);
    att.write('one\ntwo\n');
    att.endInput();
    const out = demux(await att.readAll());
    expect(out.stdout).toBe('got one\ngot two\neof\n');
    await until(() => sb.exitInfo(id));
    expect(sb.exitInfo(id)?.exitCode).toBe(0);
    expect(logLines(log).map((l) => l.log)).toEqual(['got one\n', 'got two\n', 'eof\n']);
  });

  it('survives an attach client that vanishes without a half-close', async () => {
    sb = new Sandbox();
    mkdirSync(join(sb.dir, 'shared'));
    const { id, log } = await created(
      ['sh', '-c', 'echo first; while [ ! -e /shared/go ]; do sleep 0.05; done; echo second; exit 3'],
      (s) => {
        s.mounts!.push({
          destination: '/shared',
          type: 'bind',
          source: join(sb.dir, 'shared'),
          options: ['rbind'],
        });
      },
    );
    const att = await Ctl.open(sb, id);
    await att.request({ op: 'attach', stdin: false, stdout: true, stderr: true });
    await sb.rt(['start', id]);
    await att.readUntil('first');
    att.close(); // reset, no half-close
    const { monitorPid } = sb.state(id) as { monitorPid: number };
    writeFileSync(join(sb.dir, 'shared', 'go'), '');
    await until(() => sb.exitInfo(id));
    expect(sb.exitInfo(id)?.exitCode).toBe(3);
    expect(logLines(log).map((l) => l.log)).toEqual(['first\n', 'second\n']);
    // Not spinning on the dead socket: a busy loop is R (running or runnable) at every look; an idle
    // monitor sleeps between events (one look alone can catch it at work on a loaded machine).
    const looks: (string | undefined)[] = [];
    for (let i = 0; i < 20; i++, await new Promise((r) => setTimeout(r, 25)))
      looks.push(readProcState(monitorPid));
    expect(looks.some((s) => s !== 'R')).toBe(true);
  });

  it('works with a --root too deep for a unix socket path', async () => {
    sb = new Sandbox(`${'r'.repeat(60)}/${'o'.repeat(40)}`);
    const { id } = await created(['sleep', '1000']);
    expect(join(sb.stateDir(id), 'ctl.sock').length).toBeGreaterThan(108);
    const start = await sb.rt(['start', id]);
    expect(start.stderr).toBe('');
    expect(JSON.parse((await sb.rt(['state', id])).stdout).status).toBe('running');
    expect((await sb.rt(['exec', id, 'echo', 'hi'])).stdout).toBe('hi\n');
    expect((await sb.rt(['delete', '--force', id])).code).toBe(0);
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('rotates the json-file log by size', async () => {
    sb = new Sandbox();
    const { id, log } = await created(
      ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo "line $i"; i=$((i+1)); done'],
      undefined,
      ['--log-max-size', '4096', '--log-max-files', '3'],
    );
    await sb.rt(['start', id]);
    await until(() => sb.exitInfo(id));
    for (const f of [log, `${log}.1`, `${log}.2`]) {
      expect(statSync(f).size).toBeLessThanOrEqual(4096);
      expect(logLines(f).length).toBeGreaterThan(0);
    }
    expect(existsSync(`${log}.3`)).toBe(false);
    const last = logLines(log);
    expect(last[last.length - 1].log).toBe('line 399\n');
  });

  it('pauses and resumes with the freezer', async () => {
    const id = await running();
    const { pid } = sb.state(id) as { pid: number };
    expect((await sb.rt(['pause', id])).code).toBe(0);
    expect(sb.state(id).status).toBe('paused');
    expect(readProcState(pid)).toBe('D'); // frozen tasks sleep uninterruptibly in the freezer
    expect((await sb.rt(['exec', id, 'true'])).stderr).toMatch(/paused/);
    expect((await sb.rt(['resume', id])).code).toBe(0);
    expect(sb.state(id).status).toBe('running');
    expect(readProcState(pid)).toBe('S');
  });

  it('execs into the running container with pipes, exit code and the container namespaces', async () => {
    const id = await running();
    const r = await sb.rt(
      ['exec', id, 'sh', '-c', 'hostname; ps -o pid,comm | grep -c sleep; cat; echo e >&2; exit 5'],
      {
        input: 'from stdin\n',
      },
    );
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('box\n1\nfrom stdin\n');
    expect(r.stderr).toBe('e\n');
    const user = await sb.rt(['exec', '--user', 'app', id, 'id']);
    expect(user.stdout.trim()).toBe('uid=1000(app) gid=1000(app) groups=10(wheel),29(audio)');
    const missing = await sb.rt(['exec', id, 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/exec "nope": executable file not found in \$PATH/);
  });

  it('runs a detached exec and reports its exit code later', async () => {
    const id = await running();
    const ctl = await Ctl.open(sb, id);
    const reply = await ctl.request({
      op: 'exec',
      detach: true,
      process: execProcess(['sh', '-c', 'exit 4']),
    });
    expect(reply).toMatchObject({ ok: true });
    const st = await until(async () => {
      const r = await ctl.request({ op: 'exec-state', execId: reply.execId });
      return r.running === false ? r : undefined;
    });
    expect(st).toMatchObject({ ok: true, exitCode: 4, pid: reply.pid });
    expect(await ctl.request({ op: 'exec-state', execId: 'nope' })).toMatchObject({ ok: false });
    ctl.close();
  });

  it('keeps the exit codes of the newest 256 finished execs and forgets older ones', async () => {
    const id = await running();
    const ctl = await Ctl.open(sb, id);
    const KEPT = 256; // kMaxFinishedExecs in native/src/runtime/monitor_impl.h
    const ids: string[] = [];
    for (let i = 0; i < KEPT + 20; i++) {
      const r = await ctl.request({
        op: 'exec',
        detach: true,
        process: execProcess(['sh', '-c', `exit ${i % 100}`]),
      });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      ids.push(r.execId as string);
      // one at a time: the order they finish in is the order they were started
      await until(async () => (await ctl.request({ op: 'exec-state', execId: r.execId })).running === false);
    }
    for (const [i, execId] of ids.entries()) {
      const st = await ctl.request({ op: 'exec-state', execId });
      if (i < ids.length - KEPT) expect(st, `exec ${i}`).toMatchObject({ ok: false });
      else expect(st, `exec ${i}`).toMatchObject({ ok: true, running: false, exitCode: i % 100 });
    }
    ctl.close();
  }, 120_000);

  it('resizes an exec terminal', async () => {
    const id = await running();
    const ctl = await Ctl.open(sb, id);
    const reply = await ctl.request({
      op: 'exec',
      process: execProcess(['sh', '-c', 'stty size; read x; stty size'], { height: 10, width: 20 }),
    });
    await ctl.readUntil('10 20');
    const other = await Ctl.open(sb, id);
    expect(await other.request({ op: 'resize', execId: reply.execId, height: 50, width: 132 })).toEqual({
      ok: true,
    });
    other.close();
    ctl.write('\r');
    expect(await ctl.readUntil('50 132')).toContain('50 132');
  });

  it('gives exec a terminal in the container devpts', async () => {
    const id = await running();
    const ctl = await Ctl.open(sb, id);
    const reply = await ctl.request({
      op: 'exec',
      process: execProcess(['sh', '-c', 'tty; stty size; exit 3'], { height: 30, width: 100 }),
    });
    expect(reply.ok).toBe(true);
    const out = (await ctl.readAll()).toString();
    expect(out).toMatch(/\/dev\/pts\/\d+\r\n30 100\r\n/);
    const state = await Ctl.open(sb, id);
    const st = await state.request({ op: 'exec-state', execId: reply.execId });
    state.close();
    expect(st).toMatchObject({ ok: true, running: false, exitCode: 3 });
  });

  it('runs the init on a terminal (process.terminal) and streams it raw', async () => {
    sb = new Sandbox();
    const { id, log } = await created(['sh', '-c', 'tty; read x; echo "read $x"'], (s) => {
      s.process.terminal = true;
      s.process.consoleSize = { height: 10, width: 40 };
    });
    const att = await Ctl.open(sb, id);
    await att.request({ op: 'attach', stdin: true, stdout: true, stderr: true });
    await sb.rt(['start', id]);
    await att.readUntil('/dev/pts/');
    att.write('hello\r');
    const text = await att.readUntil('read hello');
    expect(text).toMatch(/\/dev\/pts\/0\r\n/);
    await until(() => sb.exitInfo(id));
    expect(readFileSync(log, 'utf8')).toContain('read hello');
  });

  it('runs as a given uid:gid with additional gids, and resolves names in the rootfs', async () => {
    sb = new Sandbox();
    const a = sb.bundle(['id'], (s) => {
      s.process.user = { uid: 1000, gid: 1000, additionalGids: [29, 4242] };
    });
    expect((await sb.rt(['run', '--bundle', a.bundle, a.id])).stdout.trim()).toBe(
      'uid=1000(app) gid=1000(app) groups=29(audio),4242',
    );
    const b = sb.bundle(['sh', '-c', 'id; echo $HOME'], (s) => {
      s.annotations = { 'org.shoal.user': 'app:daemon' };
    });
    expect((await sb.rt(['run', '--bundle', b.bundle, b.id])).stdout).toBe(
      'uid=1000(app) gid=1(daemon) groups=10(wheel),29(audio)\n/home/app\n',
    );
  });

  it('applies a read-only rootfs, bind mounts (ro and rw) and tmpfs mounts', async () => {
    sb = new Sandbox();
    const rw = join(sb.dir, 'rw');
    const ro = join(sb.dir, 'ro');
    mkdirSync(rw);
    mkdirSync(ro);
    writeFileSync(join(ro, 'f'), 'data\n');
    const { id, bundle } = sb.bundle(
      [
        'sh',
        '-c',
        'touch /x 2>/dev/null && echo ROOTW; cat /ro/f; touch /ro/g 2>/dev/null && echo ROW; ' +
          'echo hi > /rw/h && echo RWOK; echo t > /scratch/t && echo TMPOK; grep " /scratch " /proc/self/mounts',
      ],
      (s) => {
        s.root.readonly = true;
        s.mounts!.push(
          { destination: '/ro', type: 'bind', source: ro, options: ['rbind', 'ro'] },
          { destination: '/rw', type: 'bind', source: rw, options: ['rbind', 'rw'] },
          {
            destination: '/scratch',
            type: 'tmpfs',
            source: 'tmpfs',
            options: ['nosuid', 'size=1m', 'mode=1777'],
          },
        );
      },
    );
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r.stdout).not.toContain('ROOTW');
    expect(r.stdout).not.toContain('ROW');
    expect(r.stdout).toContain('data\nRWOK\nTMPOK\n');
    expect(r.stdout).toMatch(/tmpfs \/scratch tmpfs rw,nosuid.*size=1024k/);
    expect(readFileSync(join(rw, 'h'), 'utf8')).toBe('hi\n');
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('mounts an overlay rootfs inside the container only', async () => {
    sb = new Sandbox();
    const upper = join(sb.dir, 'upper');
    const work = join(sb.dir, 'work');
    const mnt = join(sb.dir, 'merged');
    for (const d of [upper, work, mnt]) mkdirSync(d);
    const { id } = await created(['sh', '-c', 'echo new > /created-in-container; sleep 1000'], (s) => {
      s.root.path = mnt;
      s.annotations = {
        'org.shoal.rootfs.lowerdirs': ROOTFS,
        'org.shoal.rootfs.upperdir': upper,
        'org.shoal.rootfs.workdir': work,
      };
    });
    await sb.rt(['start', id]);
    await until(() => existsSync(join(upper, 'created-in-container')));
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mnt);
    expect(existsSync(join(ROOTFS, 'created-in-container'))).toBe(false);
    const ex = await sb.rt(['exec', id, 'cat', '/created-in-container']);
    expect(ex.stdout).toBe('new\n');
    await sb.rt(['delete', '--force', id]);
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('joins an existing network namespace by path', async () => {
    sb = new Sandbox();
    const ns = `shoal-rt-test-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'add', 'shoalv7a', 'type', 'veth', 'peer', 'name', 'shoalv7b']);
      const { id, bundle } = sb.bundle(['cat', '/proc/net/dev'], (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
          n.type === 'network' ? { type: 'network', path: `/run/netns/${ns}` } : n,
        );
      });
      const r = await sb.rt(['run', '--bundle', bundle, id]);
      expect(r.stdout).toContain('shoalv7a');
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('maps users with a user namespace', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sh', '-c', 'cat /proc/self/uid_map; id -u'], (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\s+0\s+100000\s+65536\n0\n$/);
  });

  it('execs into a container with a user namespace', async () => {
    sb = new Sandbox();
    const { id } = await created(['sleep', '1000'], (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    await sb.rt(['start', id]);
    const r = await sb.rt(['exec', '--user', 'app', id, 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^1000\n\s+0\s+100000\s+65536\n$/);
    const { pid } = sb.state(id) as { pid: number };
    // seen from the host the container's root is uid 100000
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/Uid:\t100000\t/);
  });

  it('keeps the container running when the process that created it is killed -9', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle([
      'sh',
      '-c',
      'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done',
    ]);
    const log = join(sb.dir, 'live.log');
    // A parent that spawns create/start and is then killed: the monitor must not be its child. (`exec` makes
    // the parent the sleep itself, so killing it leaves no orphan on the host.)
    const parent = spawn(
      'sh',
      [
        '-c',
        `${RUNTIME} --root ${sb.root} create --bundle ${bundle} --log-path ${log} ${id} && ${RUNTIME} --root ${sb.root} start ${id} && exec sleep 1000`,
      ],
      { stdio: 'ignore' },
    );
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('tick 2'));
    const { monitorPid } = sb.state(id) as { monitorPid: number };
    const ppid = Number(readFileSync(`/proc/${monitorPid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    expect(ppid).not.toBe(parent.pid);
    parent.kill('SIGKILL');
    const before = readFileSync(log, 'utf8').length;
    await until(() => readFileSync(log, 'utf8').length > before + 30);
    expect(JSON.parse((await sb.rt(['state', id])).stdout).status).toBe('running');
    await sb.rt(['kill', id, 'KILL']);
    await until(() => sb.exitInfo(id));
    expect(sb.exitInfo(id)?.signal).toBe('SIGKILL');
  });
});
