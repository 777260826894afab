// Live restore: kill -9 of shoald leaves containers running; a shoald restarted on the same
// directories finds them, their logs keep flowing, and wait reports their real exit code.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, eventually, ROOTFS, shoal, startShoald, stopShoald } from './harness.js';

const ctl = mkdtempSync(join(tmpdir(), 'shoal-e2-ctl-'));
chmodSync(ctl, 0o777);
let d: Daemon | undefined;
afterAll(async () => {
  await cleanup(d);
  rmSync(ctl, { recursive: true, force: true });
});

const ticks = async (dd: Daemon) =>
  (await shoal(dd, ['logs', 'lr'])).stdout.split('\n').filter((l) => l.startsWith('tick')).length;

describe('live restore', () => {
  it('survives kill -9 of shoald', async () => {
    d = await startShoald();
    const script = 'while [ ! -e /ctl/stop ]; do echo tick; sleep 0.1; done; echo bye; exit 42';
    expect(
      (
        await shoal(d, [
          'run',
          '-d',
          '--name',
          'lr',
          '-v',
          `${ctl}:/ctl`,
          '--rootfs',
          ROOTFS,
          'sh',
          '-c',
          script,
        ])
      ).code,
    ).toBe(0);
    await eventually(async () => (await ticks(d as Daemon)) >= 2, 'first ticks');
    const [pidText, logPath] = (await shoal(d, ['inspect', '-f', '{{.State.Pid}} {{.LogPath}}', 'lr'])).stdout
      .trim()
      .split(' ');
    const pid = Number(pidText);
    expect(pid).toBeGreaterThan(0);

    await stopShoald(d, 'SIGKILL');
    const dir = d.dir;
    // The container's init outlives the daemon.
    expect(() => process.kill(pid, 0)).not.toThrow();
    // The monitor keeps writing its log while no daemon runs.
    const lines = () => readFileSync(logPath, 'utf8').split('\n').length;
    const before = lines();
    await eventually(() => lines() > before + 2, 'log lines written while shoald is down');

    d = await startShoald(dir);
    const ps = await shoal(d, ['ps']);
    expect(ps.stdout).toMatch(/Up .* lr\n/);
    expect((await shoal(d, ['inspect', '-f', '{{.State.Pid}}', 'lr'])).stdout.trim()).toBe(String(pid));

    // Logs written while shoald was down, and after, are there.
    const n = await ticks(d);
    await eventually(async () => (await ticks(d as Daemon)) > n + 2, 'ticks after the restart');

    const waiting = shoal(d, ['wait', 'lr']);
    writeFileSync(join(ctl, 'stop'), '');
    expect((await waiting).stdout).toBe('42\n');
    const state = await shoal(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'lr']);
    expect(state.stdout).toBe('exited 42\n');
    expect((await shoal(d, ['logs', '--tail', '1', 'lr'])).stdout).toBe('bye\n');
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('an attached shoal run reports the lost daemon (125), and the container carries on', async () => {
    await cleanup(d);
    d = await startShoald();
    const dd = d;
    const script = 'echo a; while [ ! -e /ctl/go ]; do sleep 0.1; done; echo b; exit 3';
    const running = shoal(dd, [
      'run',
      '--name',
      'att',
      '-v',
      `${ctl}:/ctl`,
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      script,
    ]);
    await eventually(async () => (await shoal(dd, ['logs', 'att'])).stdout === 'a\n', 'first output');
    await stopShoald(dd, 'SIGKILL');
    const r = await running;
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('error waiting for container');
    d = await startShoald(dd.dir);
    const waiting = shoal(d, ['wait', 'att']);
    writeFileSync(join(ctl, 'go'), '');
    expect((await waiting).stdout).toBe('3\n');
    expect((await shoal(d, ['logs', 'att'])).stdout).toBe('a\nb\n');
  });
});
