// `--init` through the real docker CLI against a real shoald: docker-init is PID 1 (in ps and /proc/1),
// orphans are reaped, docker stop's SIGTERM reaches the command, exit codes pass through, inspect shows
// HostConfig.Init; the init runs from a sealed copy (no file in the container, /proc/1/exe not writable);
// a service with --init runs its task under it. Each case is checked against the same run without --init
// where the difference is the point, so the test fails if the init is silently dropped.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../images/registry-harness.js';
import { api, cleanupSwarm, type Daemon, docker, eventually, REPO, shoal, startShoald } from './harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;

beforeAll(async () => {
  d = await startShoald();
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
}, 120_000);
afterAll(() => cleanupSwarm(d), 120_000);

const fmt = async (ref: string, f: string) => (await docker(d, ['inspect', '-f', f, ref])).stdout.trim();

describe('docker run --init', () => {
  it('runs docker-init as PID 1 with the command as its child', async () => {
    const r = await docker(d, [
      'run',
      '--rm',
      '--init',
      'busybox',
      'sh',
      '-c',
      'cat /proc/1/comm; tr "\\0" " " < /proc/1/cmdline; echo; ps -o pid,ppid,args; true',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [comm, cmdline] = r.stdout.split('\n');
    expect(comm).toBe('docker-init');
    expect(cmdline?.trim()).toMatch(/^\/sbin\/docker-init -- sh -c cat \/proc\/1\/comm/);
    // ps: PID 1 is the init, the shell is its child (PPID 1)
    expect(r.stdout).toMatch(/^\s*1\s+0\s+\/sbin\/docker-init -- sh -c/m);
    expect(r.stdout).toMatch(/^\s*\d+\s+1\s+sh -c/m);
    // without --init the shell itself is PID 1
    // shoal's own CLI sends the same flag
    expect((await shoal(d, ['run', '--rm', '--init', 'busybox', 'cat', '/proc/1/comm'])).stdout).toBe(
      'docker-init\n',
    );
    const plain = await docker(d, ['run', '--rm', 'busybox', 'cat', '/proc/1/comm']);
    expect(plain.stdout).toBe('cat\n');
  });

  it("with a TTY, puts the command in its own process group in the terminal's foreground (^C reaches it once)", async () => {
    // /proc/self/stat fields 5 and 8: the process group and the terminal's foreground group
    const r = await docker(d, [
      'run',
      '--rm',
      '-t',
      '--init',
      'busybox',
      'sh',
      '-c',
      'cut -d" " -f5,8 /proc/$$/stat; true',
    ]);
    const [pgrp, tpgid] = r.stdout.trim().split(' ').map(Number);
    expect(pgrp).toBeGreaterThan(1);
    expect(tpgid).toBe(pgrp);
  });

  it('reaps orphans: no zombie is left', async () => {
    const zombies = 'ps -o stat | grep -c Z';
    // the brief's case: an orphaned background sleep, counted after it ended
    const r = await docker(d, [
      'run',
      '--rm',
      '--init',
      'busybox',
      'sh',
      '-c',
      `(sleep 0.1 &); sleep 1; ${zombies}`,
    ]);
    expect(r.stdout.trim()).toBe('0');
    // orphans of a docker exec are re-parented to PID 1: with the init they are reaped...
    await docker(d, ['run', '-d', '--init', '--name', 'reap-init', 'busybox', 'sleep', '1000']);
    await docker(d, ['run', '-d', '--name', 'reap-plain', 'busybox', 'sleep', '1000']);
    const orphan = `(sleep 0.1 &); sleep 1; ${zombies}`;
    expect((await docker(d, ['exec', 'reap-init', 'sh', '-c', orphan])).stdout.trim()).toBe('0');
    // ...with PID 1 a plain sleep they stay zombies
    expect((await docker(d, ['exec', 'reap-plain', 'sh', '-c', orphan])).stdout.trim()).toBe('1');
    await docker(d, ['rm', '-f', 'reap-init', 'reap-plain']);
  });

  it('forwards docker stop’s SIGTERM to the command (exit 143), where a plain PID 1 sleep waits for the kill (137)', async () => {
    await docker(d, ['run', '-d', '--init', '--name', 'stop-init', 'busybox', 'sleep', '1000']);
    // a long grace period: had SIGTERM not reached sleep, this would end in SIGKILL (137)
    expect((await docker(d, ['stop', '-t', '60', 'stop-init'])).code).toBe(0);
    expect(await fmt('stop-init', '{{.State.ExitCode}}')).toBe('143');
    await docker(d, ['run', '-d', '--name', 'stop-plain', 'busybox', 'sleep', '1000']);
    expect((await docker(d, ['stop', '-t', '1', 'stop-plain'])).code).toBe(0);
    expect(await fmt('stop-plain', '{{.State.ExitCode}}')).toBe('137');
    // other signals too: docker kill -s USR1 ends a sleep under the init
    await docker(d, ['start', 'stop-init']);
    // Only once the init runs its command does it catch signals: one sent before (from outside the
    // container's pid namespace, to a PID 1 with no handler yet) is dropped by the kernel.
    await eventually(
      async () => (await docker(d, ['top', 'stop-init'])).stdout.includes('sleep 1000'),
      'sleep running under the init',
    );
    expect((await docker(d, ['kill', '-s', 'USR1', 'stop-init'])).code).toBe(0);
    await eventually(async () => (await fmt('stop-init', '{{.State.Status}}')) === 'exited', 'USR1 ends it');
    expect(await fmt('stop-init', '{{.State.ExitCode}}')).toBe('138');
    await docker(d, ['rm', '-f', 'stop-init', 'stop-plain']);
  });

  it('passes the exit code through (128+N when a signal killed the command)', async () => {
    expect((await docker(d, ['run', '--rm', '--init', 'busybox', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await docker(d, ['run', '--rm', '--init', 'busybox', 'sh', '-c', 'kill -9 $$'])).code).toBe(137);
    expect((await docker(d, ['run', '--rm', '--init', 'busybox', 'true'])).code).toBe(0);
    // the init's sealed copy (about 0.7 MB) is charged to the container: it still fits docker's 6 MB minimum
    expect(
      (await docker(d, ['run', '--rm', '--init', '-m', '6m', 'busybox', 'sh', '-c', 'exit 3'])).code,
    ).toBe(3);
  });

  it('inspect shows HostConfig.Init and the user’s command as Path/Args', async () => {
    await docker(d, ['create', '--init', '--name', 'insp', 'busybox', 'sh', '-c', 'exit 0']);
    const i = JSON.parse((await docker(d, ['inspect', 'insp'])).stdout)[0];
    expect(i.HostConfig.Init).toBe(true);
    expect(i.Path).toBe('sh');
    expect(i.Args).toEqual(['-c', 'exit 0']);
    await docker(d, ['create', '--name', 'insp-plain', 'busybox', 'true']);
    expect(await fmt('insp-plain', '{{json .HostConfig.Init}}')).toBe('null');
    await docker(d, ['rm', '-f', 'insp', 'insp-plain']);
  });

  it('runs the init from a sealed copy: no file in the container, /proc/1/exe cannot be written', async () => {
    const r = await docker(d, [
      'run',
      '--rm',
      '--init',
      'busybox',
      'sh',
      '-c',
      'ls /sbin/docker-init 2>/dev/null && echo present; readlink /proc/1/exe; echo x >> /proc/1/exe && echo written; :',
    ]);
    expect(r.stdout).not.toContain('present');
    expect(r.stdout).toMatch(/^\/memfd:docker-init \(deleted\)$/m);
    expect(r.stdout).not.toContain('written');
  });

  it('a command that does not exist fails as without --init', async () => {
    const withInit = await docker(d, ['run', '--rm', '--init', 'busybox', 'no-such-cmd']);
    const without = await docker(d, ['run', '--rm', 'busybox', 'no-such-cmd']);
    expect(withInit.code).toBe(127);
    expect(withInit.code).toBe(without.code);
    expect(withInit.stderr).toContain('exec "no-such-cmd": executable file not found in $PATH');
  });
});

describe('service create --init', () => {
  it('runs the task under docker-init', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    expect((await shoal(d, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr])).code).toBe(0);
    const r = await docker(d, [
      'service',
      'create',
      '--detach',
      '--no-resolve-image',
      '--init',
      '--name',
      'isvc',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const spec = await docker(d, [
      'service',
      'inspect',
      '-f',
      '{{.Spec.TaskTemplate.ContainerSpec.Init}}',
      'isvc',
    ]);
    expect(spec.stdout.trim()).toBe('true');
    let id = '';
    await eventually(
      async () => {
        const q = `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.swarm.service.name=isvc'] }))}`;
        const list = JSON.parse((await api(d, 'GET', q)).body) as { Id: string; State: string }[];
        id = list.find((c) => c.State === 'running')?.Id ?? '';
        return id !== '';
      },
      'the task container to run',
      200,
    );
    expect(await fmt(id, '{{.HostConfig.Init}}')).toBe('true');
    expect((await docker(d, ['exec', id, 'cat', '/proc/1/comm'])).stdout).toBe('docker-init\n');
    expect((await docker(d, ['service', 'rm', 'isvc'])).code).toBe(0);
  }, 120_000);
});
