// Resource limits through cgroups: memory (OOM kill reported), pids, cpu quota, stats.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ctl, ensureFixtures, leftovers, Sandbox, until } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

describe('limits', () => {
  it('kills a memory hog and reports oomKilled, with swap disabled', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sh', '-c', 'tail /dev/zero'], (s) => {
      s.linux!.resources!.memory = { limit: 32 << 20 };
    });
    // with --log-path (shoald's mode) the monitor is the process's parent and reports its exit
    const log = join(sb.dir, `${id}.log`);
    expect((await sb.rt(['create', '--log-path', log, '--bundle', bundle, id])).code).toBe(0);
    const mem = (sb.state(id).cgroupPaths as Record<string, string>).memory;
    expect(readFileSync(`${mem}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(32 << 20));
    if (existsSync(`${mem}/memory.memsw.limit_in_bytes`)) {
      expect(readFileSync(`${mem}/memory.memsw.limit_in_bytes`, 'utf8').trim()).toBe(String(32 << 20));
    }
    const ctl = await Ctl.open(sb, id);
    const wait = ctl.request({ op: 'wait' });
    await sb.rt(['start', id]);
    expect(await wait).toMatchObject({ ok: true, exitCode: 137, signal: 'SIGKILL', oomKilled: true });
    ctl.close();
    expect(sb.exitInfo(id)).toMatchObject({ oomKilled: true });
    await sb.rt(['delete', id]);
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('stops a fork bomb at the pids limit', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '1000'], (s) => {
      s.linux!.resources!.pids = { limit: 10 };
    });
    expect((await sb.rt(['create', '--bundle', bundle, id])).code).toBe(0);
    await sb.rt(['start', id]);
    // busybox sh gives up at the first fork that fails; it prints how many it managed
    const bomb = await sb.rt([
      'exec',
      id,
      'sh',
      '-c',
      'i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo $i; done',
    ]);
    expect(bomb.stderr).toMatch(/can't fork/);
    const forked = Number(bomb.stdout.trim().split('\n').pop());
    expect(forked).toBeGreaterThan(0);
    expect(forked).toBeLessThan(10);
    const stats = JSON.parse((await sb.rt(['events', '--stats', id])).stdout);
    expect(stats.pids.limit).toBe(10);
    expect(stats.pids.current).toBeLessThanOrEqual(10);
    await sb.rt(['delete', '--force', id]);
    expect(leftovers(sb, id)).toEqual([]);
  });

  it('throttles to the cpu quota and shows it inside the container and in stats', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(
      ['sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; while :; do :; done'],
      (s) => {
        s.linux!.resources!.cpu = { quota: 10000, period: 100000, shares: 512 };
      },
    );
    const log = `${sb.dir}/cpu.log`;
    expect((await sb.rt(['create', '--bundle', bundle, '--log-path', log, id])).code).toBe(0);
    await sb.rt(['start', id]);
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('10000'));
    const cpu = (sb.state(id).cgroupPaths as Record<string, string>).cpu;
    expect(readFileSync(`${cpu}/cpu.shares`, 'utf8').trim()).toBe('512');
    const stats = await until(async () => {
      const s = JSON.parse((await sb.rt(['events', '--stats', id])).stdout);
      return s.cpu.throttledPeriods >= 3 ? s : undefined;
    });
    expect(stats.cpu.periods).toBeGreaterThanOrEqual(stats.cpu.throttledPeriods);
    expect(stats.cpu.throttledNs).toBeGreaterThan(0);
    // 10% of one cpu: usage cannot run far ahead of the elapsed periods
    expect(stats.cpu.usageNs).toBeLessThan((stats.cpu.periods + 2) * 10_000_000 * 1.5);
    expect(stats.pids).toEqual({ current: 1, limit: 0 });
    expect(stats.memory.usage).toBeGreaterThan(0);
  });

  it('pins to a cpuset', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['cat', '/proc/self/status'], (s) => {
      s.linux!.resources!.cpu = { cpus: '0', mems: '0' };
    });
    const r = await sb.rt(['run', '--bundle', bundle, id]);
    expect(r.stdout).toMatch(/Cpus_allowed_list:\t0\n/);
    expect(leftovers(sb, id)).toEqual([]);
  });
});
