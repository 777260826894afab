// Container commands on running containers, through both the shoal CLI and the real docker CLI
// (docker 28 negotiating API 1.41): ps, logs (-f, --tail, -t), exec (-i, -t, -d, exit codes),
// inspect, stats --no-stream, pause/unpause, kill -s, stop -t, wait, rm (-f).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  type Daemon,
  docker,
  eventually,
  ROOTFS,
  shoal,
  spawnShoal,
  startShoald,
} from '../daemon/harness.js';

let d: Daemon;
const TICKER = 'echo started; echo oops >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done';

beforeAll(async () => {
  d = await startShoald();
  const r = await shoal(d, [
    'run',
    '-d',
    '--name',
    'c1',
    '-l',
    'app=demo',
    '--rootfs',
    ROOTFS,
    'sh',
    '-c',
    TICKER,
  ]);
  expect(r.code).toBe(0);
});
afterAll(() => cleanup(d));

const ticks = (text: string) => text.split('\n').filter((l) => /^tick \d+$/.test(l)).length;

describe('ps', () => {
  it('lists the running container in docker ps and shoal ps alike', async () => {
    const mine = await shoal(d, ['ps']);
    const theirs = await docker(d, ['ps']);
    for (const out of [mine.stdout, theirs.stdout]) {
      expect(out.split('\n')[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
      expect(out).toMatch(/"sh -c 'echo started…" .* Up .* c1\n/);
    }
    expect((await shoal(d, ['ps', '-q'])).stdout).toBe((await docker(d, ['ps', '-q'])).stdout);
  });

  it('formats ps output with templates as docker ps --format', async () => {
    for (const cli of [shoal, docker]) {
      expect((await cli(d, ['ps', '--format', '{{.Names}} {{.State}} {{.Labels}}'])).stdout).toBe(
        'c1 running app=demo\n',
      );
      const table = (await cli(d, ['ps', '--format', 'table {{.Names}}\\t{{.Image}}'])).stdout.split('\n');
      expect(table[0]).toMatch(/^NAMES +IMAGE$/);
      expect(table[1]).toMatch(new RegExp(`^c1 +${ROOTFS}$`));
    }
  });

  it('filters by name, status and label, on both CLIs', async () => {
    const id = (await shoal(d, ['inspect', '-f', '{{.Id}}', 'c1'])).stdout.trim();
    const q = await docker(d, ['ps', '-a', '-q', '--no-trunc', '-f', 'name=c1', '-f', 'status=running']);
    expect(q.stdout).toBe(`${id}\n`);
    expect((await shoal(d, ['ps', '-q', '--no-trunc', '-f', 'label=app=demo'])).stdout).toBe(`${id}\n`);
    expect((await shoal(d, ['ps', '-q', '-f', 'status=exited'])).stdout).not.toContain(id.slice(0, 12));
  });
});

describe('logs', () => {
  it('separates stdout and stderr (docker logs and shoal logs)', async () => {
    await eventually(async () => ticks((await shoal(d, ['logs', 'c1'])).stdout) >= 3, 'three ticks');
    for (const r of [await shoal(d, ['logs', 'c1']), await docker(d, ['logs', 'c1'])]) {
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith('started\ntick 1\n')).toBe(true);
      expect(r.stderr).toBe('oops\n');
    }
  });

  it('shows the last lines with --tail and timestamps with -t', async () => {
    const tail = await docker(d, ['logs', '--tail', '2', 'c1']);
    expect(tail.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    const ts = await shoal(d, ['logs', '-t', '--tail', '1', 'c1']);
    expect(ts.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n$/);
  });

  it('reads relative --since and --until as the docker CLI does (42m: 42 minutes ago)', async () => {
    for (const run of [shoal, docker]) {
      const recent = await run(d, ['logs', '--since', '1h', 'c1']);
      expect(recent.code, recent.stderr).toBe(0);
      expect(recent.stdout).toContain('tick 1\n');
      const old = await run(d, ['logs', '--until', '1h', 'c1']);
      expect(old.code, old.stderr).toBe(0);
      expect(old.stdout).toBe('');
    }
    const events = await shoal(d, ['events', '--since', '1h', '--until', '0s', '--filter', 'container=c1']);
    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout).toMatch(/container start [0-9a-f]{64} \(.*name=c1/);
    const bad = await shoal(d, ['logs', '--since', 'yesterday', 'c1']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid argument "yesterday" for "--since" flag');
  });

  it('follows new output with -f', async () => {
    const p = spawnShoal(d, ['logs', '-f', '--tail', '1', 'c1']);
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      await eventually(() => ticks(out) >= 3, 'followed ticks');
      const n = out
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(l.split(' ')[1]));
      expect(n[1]).toBe(n[0] + 1);
    } finally {
      p.kill();
    }
  });
});

describe('exec', () => {
  it('runs commands with their output, stderr and exit code', async () => {
    expect(await shoal(d, ['exec', 'c1', 'echo', 'x'])).toMatchObject({ code: 0, stdout: 'x\n' });
    const fail = await docker(d, ['exec', 'c1', 'sh', '-c', 'echo to-stderr >&2; exit 3']);
    expect(fail).toMatchObject({ code: 3, stderr: 'to-stderr\n' });
    const mine = await shoal(d, [
      'exec',
      '-e',
      'V=1',
      '-u',
      '1000',
      '-w',
      '/tmp',
      'c1',
      'sh',
      '-c',
      'echo $V $(id -u) $(pwd)',
    ]);
    expect(mine).toMatchObject({ code: 0, stdout: '1 1000 /tmp\n' });
  });

  it('reports a command that cannot start on the stream, with exit code 127/126 (both CLIs)', async () => {
    for (const cli of [shoal, docker]) {
      const nf = await cli(d, ['exec', 'c1', 'no-such-cmd']);
      expect(nf.code).toBe(127);
      expect(nf.stdout + nf.stderr).toContain('exec "no-such-cmd": executable file not found');
      expect((await cli(d, ['exec', 'c1', '/etc/passwd'])).code).toBe(126);
    }
  });

  it('passes stdin with -i, and a terminal with -t', async () => {
    expect(await docker(d, ['exec', '-i', 'c1', 'cat'], 'hello-stdin\n')).toMatchObject({
      code: 0,
      stdout: 'hello-stdin\n',
    });
    expect(await shoal(d, ['exec', '-i', 'c1', 'cat'], 'via-shoal\n')).toMatchObject({
      code: 0,
      stdout: 'via-shoal\n',
    });
    expect(await docker(d, ['exec', '-t', 'c1', 'echo', 'tty'])).toMatchObject({
      code: 0,
      stdout: 'tty\r\n',
    });
    expect(await shoal(d, ['exec', '-t', 'c1', 'tty'])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^\/dev\/pts\/\d+\r\n$/),
    });
  });

  it('runs detached with -d', async () => {
    expect((await docker(d, ['exec', '-d', 'c1', 'sh', '-c', 'echo detached > /tmp/d'])).code).toBe(0);
    await eventually(
      async () => (await shoal(d, ['exec', 'c1', 'cat', '/tmp/d'])).stdout === 'detached\n',
      'detached exec',
    );
  });
});

describe('inspect and stats', () => {
  it('inspects in docker shape', async () => {
    const status = await docker(d, [
      'inspect',
      '-f',
      '{{.State.Status}} {{.Name}} {{.Config.Labels.app}}',
      'c1',
    ]);
    expect(status.stdout).toBe('running /c1 demo\n');
    const [j] = JSON.parse((await shoal(d, ['inspect', 'c1'])).stdout);
    expect(j.Config.Cmd).toEqual(['sh', '-c', TICKER]);
    expect(j.Path).toBe('sh');
  });

  it("lists the container's processes with top (docker and shoal)", async () => {
    for (const cli of [docker, shoal]) {
      const r = await cli(d, ['top', 'c1']);
      expect(r.code).toBe(0);
      const [head, ...rows] = r.stdout.trim().split('\n');
      expect(head).toMatch(/^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
      expect(rows.some((row) => row.endsWith(`sh -c ${TICKER}`))).toBe(true);
      expect(rows.every((row) => !row.includes('shoald'))).toBe(true);
    }
    const custom = await docker(d, ['top', 'c1', '-o', 'pid,comm']);
    expect(custom.stdout.split('\n')[0]).toMatch(/^PID +COMMAND$/);
  });

  it('reports memory, cpu and pids with stats --no-stream', async () => {
    for (const r of [
      await docker(d, ['stats', '--no-stream', 'c1']),
      await shoal(d, ['stats', '--no-stream', 'c1']),
    ]) {
      expect(r.code).toBe(0);
      const [head, row] = r.stdout.split('\n');
      expect(head).toMatch(
        /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/,
      );
      expect(row).toMatch(
        /^[0-9a-f]{12} +c1 +\d+\.\d\d% +[\d.]+[KMG]?i?B \/ [\d.]+[KMGTP]?i?B +[\d.]+% .* [1-9]\d*$/,
      );
    }
  });
});

describe('pause, kill, stop, wait, rm', () => {
  it('pauses and unpauses', async () => {
    expect((await docker(d, ['pause', 'c1'])).code).toBe(0);
    expect((await shoal(d, ['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'c1'])).stdout).toBe(
      'paused true\n',
    );
    expect((await shoal(d, ['ps'])).stdout).toMatch(/\(Paused\) .* c1/);
    expect((await shoal(d, ['unpause', 'c1'])).code).toBe(0);
    expect((await docker(d, ['inspect', '-f', '{{.State.Status}}', 'c1'])).stdout).toBe('running\n');
  });

  it('delivers a chosen signal with kill -s, and wait reports the exit status', async () => {
    const trap = 'trap "exit 7" USR1; echo armed; while true; do sleep 0.1; done';
    expect((await shoal(d, ['run', '-d', '--name', 'k1', '--rootfs', ROOTFS, 'sh', '-c', trap])).code).toBe(
      0,
    );
    const waiting = docker(d, ['wait', 'k1']);
    await eventually(async () => (await shoal(d, ['logs', 'k1'])).stdout === 'armed\n', 'k1 trap armed');
    expect((await shoal(d, ['kill', '-s', 'USR1', 'k1'])).stdout).toBe('k1\n');
    expect((await waiting).stdout).toBe('7\n');
    expect((await shoal(d, ['wait', 'k1'])).stdout).toBe('7\n');
    expect((await shoal(d, ['run', '-d', '--name', 'k2', '--rootfs', ROOTFS, 'sh', '-c', trap])).code).toBe(
      0,
    );
    await eventually(async () => (await shoal(d, ['logs', 'k2'])).stdout === 'armed\n', 'k2 trap armed');
    expect((await docker(d, ['kill', '--signal', 'SIGUSR1', 'k2'])).code).toBe(0);
    expect((await docker(d, ['wait', 'k2'])).stdout).toBe('7\n');
  });

  it('stops after the grace period with stop -t (SIGKILL for a PID 1 that ignores SIGTERM)', async () => {
    expect((await shoal(d, ['run', '-d', '--name', 's1', '--rootfs', ROOTFS, 'sleep', '600'])).code).toBe(0);
    expect((await docker(d, ['stop', '-t', '1', 's1'])).code).toBe(0);
    const s = await shoal(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 's1']);
    expect(s.stdout).toBe('exited 137\n');
  });

  it('finds containers by unique id prefix, and renames them', async () => {
    const id = (
      await shoal(d, ['run', '-d', '--name', 'r1', '--rootfs', ROOTFS, 'sleep', '60'])
    ).stdout.trim();
    expect((await docker(d, ['exec', id.slice(0, 10), 'echo', 'by-prefix'])).stdout).toBe('by-prefix\n');
    expect((await shoal(d, ['rename', 'r1', 'r2'])).code).toBe(0);
    expect((await docker(d, ['inspect', '-f', '{{.Name}} {{.Id}}', 'r2'])).stdout).toBe(`/r2 ${id}\n`);
    expect((await shoal(d, ['inspect', 'r1'])).stderr).toContain('No such object: r1');
    expect((await shoal(d, ['rm', '-f', id.slice(0, 12)])).code).toBe(0);
  });

  it('refuses to remove a running container without -f, and removes with -f', async () => {
    const r = await shoal(d, ['rm', 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error response from daemon: .*running container/i);
    expect((await docker(d, ['rm', '-f', 'c1'])).code).toBe(0);
    expect((await docker(d, ['rm', 'k1', 'k2', 's1'])).stdout).toBe('k1\nk2\ns1\n');
    expect((await shoal(d, ['ps', '-aq'])).stdout).toBe('');
  });
});
