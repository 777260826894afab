// Real peers drive shoal-runtime as their OCI runtime: Debian's dockerd (`--add-runtime shoal=…`,
// `docker run --runtime shoal`) and containerd's `ctr run --runc-binary`. The test starts its own
// dockerd (which starts its own containerd) on its own data root, exec root and socket, inside a
// network namespace of its own with no bridge and no iptables, so nothing touches the host's
// network; images come from the local fixtures.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, REPO, RUNTIME, run } from './helpers.js';

const IMAGE_TAR = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const hasDockerd = (() => {
  try {
    execFileSync('dockerd', ['--version']);
    execFileSync('docker', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

const netns = `shoal-oci-${process.pid}`;
let dir = '';
let dockerd: ChildProcess | undefined;
const docker = (args: string[], timeoutMs = 120_000) =>
  run('docker', ['-H', `unix://${dir}/docker.sock`, ...args], { timeoutMs });
const ctr = (args: string[]) =>
  run('ctr', ['-a', `${dir}/exec/containerd/containerd.sock`, '-n', 'shoal-oci', ...args], {
    timeoutMs: 120_000,
  });

async function eventually<T>(f: () => Promise<T | undefined | false>, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  if (!hasDockerd) return;
  ensureFixtures();
  dir = mkdtempSync('/tmp/shoal-oci-');
  execFileSync('ip', ['netns', 'add', netns]);
  execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts from dockerd
  dockerd = spawn(
    'nsenter',
    [
      `--net=/run/netns/${netns}`,
      'dockerd',
      '--data-root',
      `${dir}/data`,
      '--exec-root',
      `${dir}/exec`,
      '--pidfile',
      `${dir}/dockerd.pid`,
      '-H',
      `unix://${dir}/docker.sock`,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--bridge=none',
      '--userland-proxy=false',
      '--storage-driver',
      'overlay2',
      '--cgroup-parent',
      `/shoal-oci-${process.pid}`,
      '--add-runtime',
      `shoal=${RUNTIME}`,
    ],
    { stdio: ['ignore', log, log] },
  );
  await eventually(
    async () => (await docker(['version', '--format', '{{.Server.Version}}'])).code === 0,
    'dockerd',
    120_000,
  );
  const loaded = await docker(['load', '-i', IMAGE_TAR]);
  expect(loaded.stdout).toContain('busybox:latest');
}, 240_000);

afterAll(async () => {
  if (!dockerd) return;
  const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]);
  await ctr(['containers', 'rm', 'ctr-echo']);
  // dockerd stops its containerd and unmounts its layers on SIGTERM
  const pid = dockerd.pid!;
  const gone = new Promise<void>((r) => dockerd!.once('exit', () => r()));
  process.kill(pid, 'SIGTERM');
  const timer = setTimeout(() => process.kill(pid, 'SIGKILL'), 60_000);
  await gone;
  clearTimeout(timer);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(dir)) await run('umount', ['-l', mp]);
  }
  execFileSync('ip', ['netns', 'del', netns]);
  for (const h of [
    'blkio',
    'cpu',
    'cpuacct',
    'cpuset',
    'devices',
    'freezer',
    'memory',
    'pids',
    'systemd',
    'unified',
  ]) {
    const d = `/sys/fs/cgroup/${h}/shoal-oci-${process.pid}`;
    if (existsSync(d)) await run('rmdir', [d]);
  }
  rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe.skipIf(!hasDockerd)('dockerd with --add-runtime shoal', () => {
  it('docker run --runtime shoal: output, exit code, a terminal', async () => {
    const echo = await docker([
      'run',
      '--runtime',
      'shoal',
      '--rm',
      '--network',
      'none',
      'busybox',
      'echo',
      'hi shoal',
    ]);
    expect(echo).toMatchObject({ code: 0, stdout: 'hi shoal\n' });
    const code = await docker([
      'run',
      '--runtime',
      'shoal',
      '--rm',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'exit 3',
    ]);
    expect(code.code).toBe(3);
    const tty = await docker([
      'run',
      '-t',
      '--runtime',
      'shoal',
      '--rm',
      '--network',
      'none',
      'busybox',
      'tty',
    ]);
    expect(tty.stdout.trim()).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it('runs, execs into, lists the processes of and stops a detached container', async () => {
    const started = await docker([
      'run',
      '-d',
      '--runtime',
      'shoal',
      '--network',
      'none',
      'busybox',
      'sleep',
      '1000',
    ]);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    const info = JSON.parse((await docker(['inspect', id])).stdout)[0];
    expect(info.HostConfig.Runtime).toBe('shoal');
    const exec = await docker(['exec', id, 'sh', '-c', 'echo in-exec; hostname']);
    expect(exec).toMatchObject({ code: 0, stdout: `in-exec\n${id.slice(0, 12)}\n` });
    expect((await docker(['exec', id, 'sh', '-c', 'exit 7'])).code).toBe(7);
    const detached = await docker(['exec', '-d', id, 'sleep', '999']);
    expect(detached.code).toBe(0);
    const top = await eventually(
      async () => {
        const t = await docker(['top', id]);
        return t.stdout.includes('sleep 999') && t.stdout;
      },
      'the detached exec in docker top',
      30_000,
    );
    expect(top).toContain('sleep 1000');
    expect((await docker(['pause', id])).code).toBe(0);
    expect(JSON.parse((await docker(['inspect', id])).stdout)[0].State.Status).toBe('paused');
    expect((await docker(['unpause', id])).code).toBe(0);
    expect((await docker(['stop', '-t', '1', id])).code).toBe(0);
    const st = JSON.parse((await docker(['inspect', id])).stdout)[0].State;
    // sleep as PID 1 ignores SIGTERM: stop kills it, as with runc
    expect(st).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect((await docker(['rm', id])).code).toBe(0);
  });
});

describe.skipIf(!hasDockerd)('containerd: ctr run --runc-binary shoal-runtime', () => {
  it('imports the image and runs a container with shoal-runtime', async () => {
    const imported = await ctr(['images', 'import', IMAGE_TAR]);
    expect(imported.code).toBe(0);
    const r = await ctr([
      'run',
      '--rm',
      '--runc-binary',
      RUNTIME,
      'docker.io/library/busybox:latest',
      'ctr-echo',
      'sh',
      '-c',
      'echo hi from ctr; exit 4',
    ]);
    expect(r).toMatchObject({ code: 4, stdout: 'hi from ctr\n' });
  });
});
