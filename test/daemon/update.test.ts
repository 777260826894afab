// `docker update` of cgroup limits on a live container: the kernel's files change at once, inspect and a
// restart keep the new values, and refused values change nothing (the runtime's `update` verb underneath).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, REPO, shoal, startShoald } from './harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
  expect(
    (await docker(d, ['load', '-i', join(REPO, 'test/fixtures/out/images/busybox.docker.tar')])).code,
  ).toBe(0);
});
afterAll(() => cleanup(d));

const inspect = async (name: string) => JSON.parse((await docker(d, ['inspect', name])).stdout)[0];

/** A cgroup v1 controller's file of the container's init process (as the kernel sees it right now). */
async function cgroupFile(name: string, controller: string, file: string): Promise<string> {
  const pid = (await inspect(name)).State.Pid;
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (!line) throw new Error(`no ${controller} cgroup for pid ${pid}`);
  return readFileSync(join('/sys/fs/cgroup', controller, line.split(':')[2], file), 'utf8').trim();
}

describe('docker update', () => {
  it('changes memory, cpu and pids limits of a running container, kept by inspect and a restart', async () => {
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'u1',
          '-m',
          '64m',
          '--pids-limit',
          '40',
          'busybox',
          'sleep',
          '600',
        ])
      ).code,
    ).toBe(0);
    expect(await cgroupFile('u1', 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    const r = await docker(d, ['update', '-m', '128m', '--cpus', '0.5', '--pids-limit', '77', 'u1']);
    expect(r).toMatchObject({ code: 0, stdout: 'u1\n' });
    expect(await cgroupFile('u1', 'memory', 'memory.limit_in_bytes')).toBe(String(128 << 20));
    expect(await cgroupFile('u1', 'cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(await cgroupFile('u1', 'pids', 'pids.max')).toBe('77');
    const hc = (await inspect('u1')).HostConfig;
    expect(hc).toMatchObject({ Memory: 128 << 20, NanoCpus: 5e8, PidsLimit: 77 });
    // The restart policy is untouched by a resources-only update (the docker CLI sends an empty one).
    expect(hc.RestartPolicy.Name).toBe('no');
    expect((await docker(d, ['restart', '-t', '0', 'u1'])).code).toBe(0);
    expect(await cgroupFile('u1', 'memory', 'memory.limit_in_bytes')).toBe(String(128 << 20));
    expect(await cgroupFile('u1', 'pids', 'pids.max')).toBe('77');
    // Lifting limits: -1 pids and a quota of -1 mean unlimited.
    expect((await shoal(d, ['update', '--pids-limit', '-1', '--cpu-quota', '-1', 'u1'])).code).toBe(0);
    expect(await cgroupFile('u1', 'pids', 'pids.max')).toBe('max');
    expect(await cgroupFile('u1', 'cpu', 'cpu.cfs_quota_us')).toBe('-1');
  });

  it('refuses what it cannot apply, naming it, and changes nothing', async () => {
    const before = (await inspect('u1')).HostConfig;
    const tooSmall = await docker(d, ['update', '-m', '1m', 'u1']);
    expect(tooSmall.code).not.toBe(0);
    expect(tooSmall.stderr).toContain('the minimum is 6MB');
    const blkio = await docker(d, ['update', '--blkio-weight', '300', 'u1']);
    expect(blkio.stderr).toContain('invalid BlkioWeight');
    const cpuset = await docker(d, ['update', '--cpuset-cpus', '0', 'u1']);
    expect(cpuset.stderr).toMatch(/no cpuset cgroup/);
    const swap = await docker(d, ['update', '-m', '512m', '--memory-swap', '256m', 'u1']);
    expect(swap.code).not.toBe(0);
    expect((await inspect('u1')).HostConfig).toEqual(before);
    expect(await cgroupFile('u1', 'memory', 'memory.limit_in_bytes')).toBe(String(128 << 20));
    const none = await shoal(d, ['update', 'u1']);
    expect(none).toMatchObject({ code: 1 });
    expect(none.stderr).toContain('you must provide one or more flags');
  });

  it('shoal run takes the same resource flags as update (quota, period, reservation)', async () => {
    const r = await shoal(d, [
      'run',
      '-d',
      '--name',
      'u3',
      '--cpu-period',
      '50000',
      '--cpu-quota',
      '25000',
      '--memory-reservation',
      '16m',
      'busybox',
      'sleep',
      '600',
    ]);
    expect(r.code).toBe(0);
    expect(await cgroupFile('u3', 'cpu', 'cpu.cfs_period_us')).toBe('50000');
    expect(await cgroupFile('u3', 'cpu', 'cpu.cfs_quota_us')).toBe('25000');
    expect(await cgroupFile('u3', 'memory', 'memory.soft_limit_in_bytes')).toBe(String(16 << 20));
    expect((await docker(d, ['rm', '-f', 'u3'])).code).toBe(0);
  });

  it('a stopped container takes the new limits at its next start', async () => {
    expect((await docker(d, ['create', '--name', 'u2', '-m', '32m', 'busybox', 'sleep', '600'])).code).toBe(
      0,
    );
    expect((await docker(d, ['update', '-m', '48m', 'u2'])).code).toBe(0);
    expect((await docker(d, ['start', 'u2'])).code).toBe(0);
    expect(await cgroupFile('u2', 'memory', 'memory.limit_in_bytes')).toBe(String(48 << 20));
    expect((await docker(d, ['rm', '-f', 'u1', 'u2'])).code).toBe(0);
  });
});
