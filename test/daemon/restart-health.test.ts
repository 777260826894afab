// Restart policies and health checks through the real docker CLI against a real shoald: on-failure:N,
// always after the process's own death, a user's stop, a shoald restart (live restore) with the count
// kept, docker update --restart; health starting → unhealthy → healthy in inspect, ps and events;
// --no-healthcheck; bad inputs refused with the field named and nothing created; `-e VAR` unset.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  cleanup,
  type Daemon,
  docker,
  eventually,
  REPO,
  ROOTFS,
  shoal,
  startShoald,
  stopShoald,
} from './harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;

beforeAll(async () => {
  d = await startShoald();
  expect((await docker(d, ['load', '-i', TARBALL])).stdout).toContain('Loaded image: busybox:latest');
});
afterAll(async () => {
  await cleanup(d);
});

const inspect = async (ref: string) => JSON.parse((await docker(d, ['inspect', ref])).stdout)[0];
const fmt = async (ref: string, f: string) => (await docker(d, ['inspect', '-f', f, ref])).stdout.trim();
const names = async () =>
  (await docker(d, ['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean);

describe('restart policies', () => {
  it('on-failure:2 restarts a failing container twice, then leaves it exited', async () => {
    const r = await docker(d, [
      'run',
      '-d',
      '--name',
      'of2',
      '--restart',
      'on-failure:2',
      'busybox',
      'sh',
      '-c',
      'exit 3',
    ]);
    expect(r.code).toBe(0);
    await eventually(
      async () => (await fmt('of2', '{{.State.Status}} {{.RestartCount}}')) === 'exited 2',
      'two restarts then exited',
      200,
    );
    // It stays so: no third restart.
    await new Promise((res) => setTimeout(res, 1000));
    const i = await inspect('of2');
    expect(i.RestartCount).toBe(2);
    expect(i.State).toMatchObject({ Status: 'exited', ExitCode: 3, Restarting: false, Running: false });
    expect(i.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 2 });
    // Each run wrote a start and a die event.
    const ev = await docker(d, [
      'events',
      '--since',
      '0',
      '--until',
      String(Math.ceil(Date.now() / 1000) + 1),
      '--filter',
      'container=of2',
      '--format',
      '{{.Action}}',
    ]);
    const actions = ev.stdout.split('\n').filter((a) => a === 'start' || a === 'die');
    expect(actions).toEqual(['start', 'die', 'start', 'die', 'start', 'die']);
  });

  it('always: a container whose process ends by itself is started again; docker stop keeps it stopped', async () => {
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'alw',
          '--restart',
          'always',
          'busybox',
          'sh',
          '-c',
          'sleep 0.3',
        ])
      ).code,
    ).toBe(0);
    await eventually(async () => Number(await fmt('alw', '{{.RestartCount}}')) >= 2, 'restarts', 200);
    expect(await fmt('alw', '{{.HostConfig.RestartPolicy.Name}}')).toBe('always');
    expect((await docker(d, ['stop', '-t', '1', 'alw'])).code).toBe(0);
    const count = await fmt('alw', '{{.RestartCount}}');
    await new Promise((res) => setTimeout(res, 1500));
    expect(await fmt('alw', '{{.State.Status}} {{.State.Restarting}} {{.RestartCount}}')).toBe(
      `exited false ${count}`,
    );
    // A user's start starts the count over, as dockerd.
    expect((await docker(d, ['start', 'alw'])).code).toBe(0);
    expect(await fmt('alw', '{{.RestartCount}}')).toBe('0');
    expect((await docker(d, ['rm', '-f', 'alw'])).code).toBe(0);
  });

  it('ps shows "Restarting (N) … ago" during a back-off; stop cancels it', async () => {
    // A long-running restart loop: 20 quick failures grow the back-off past a second.
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'loop',
          '--restart',
          'always',
          'busybox',
          'sh',
          '-c',
          'exit 5',
        ])
      ).code,
    ).toBe(0);
    await eventually(async () => Number(await fmt('loop', '{{.RestartCount}}')) >= 5, 'five restarts', 400);
    await eventually(
      async () =>
        /^loop Restarting \(5\) .* ago$/m.test(
          (await docker(d, ['ps', '--format', '{{.Names}} {{.Status}}'])).stdout,
        ),
      'Restarting in docker ps',
      400,
    );
    expect(await fmt('loop', '{{.State.Restarting}} {{.State.Running}} {{.State.Status}}')).toMatch(
      /^true true restarting$|^false true running$/,
    );
    expect((await docker(d, ['stop', 'loop'])).code).toBe(0);
    expect(await fmt('loop', '{{.State.Status}} {{.State.Restarting}}')).toBe('exited false');
    expect((await docker(d, ['rm', 'loop'])).code).toBe(0);
  });

  it('docker update --restart changes the policy of an existing container', async () => {
    expect(
      (await docker(d, ['run', '-d', '--name', 'upd', 'busybox', 'sh', '-c', 'sleep 0.5; exit 1'])).code,
    ).toBe(0);
    expect((await docker(d, ['update', '--restart', 'on-failure:1', 'upd'])).code).toBe(0);
    expect(await fmt('upd', '{{json .HostConfig.RestartPolicy}}')).toBe(
      '{"Name":"on-failure","MaximumRetryCount":1}',
    );
    await eventually(
      async () => (await fmt('upd', '{{.State.Status}} {{.RestartCount}}')) === 'exited 1',
      'one restart',
      200,
    );
    const bad = await docker(d, ['update', '--restart', 'bogus', 'upd']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/restartPolicy.*unknown policy 'bogus'/);
    // A resources-only update keeps the policy (the docker CLI sends an empty RestartPolicy with it).
    expect((await docker(d, ['update', '--memory', '64m', 'upd'])).code).toBe(0);
    expect(await fmt('upd', '{{json .HostConfig.RestartPolicy}} {{.HostConfig.Memory}}')).toBe(
      `{"Name":"on-failure","MaximumRetryCount":1} ${64 << 20}`,
    );
    expect((await docker(d, ['rm', 'upd'])).code).toBe(0);
  });

  it('refuses bad policies, --rm with a policy, and bad health options: field named, nothing created', async () => {
    const before = await names();
    const cases: [string[], RegExp][] = [
      [['--restart', 'bogus'], /invalid restartPolicy: unknown policy 'bogus'/],
      [['--restart', 'on-failure:-1'], /invalid restartPolicy: maximum retry count cannot be negative/],
      [
        ['--restart', 'always:3'],
        /invalid restartPolicy: maximum retry count can only be used with 'on-failure'/,
      ],
      [
        ['--health-cmd', 'true', '--health-interval', '500us'],
        /invalid healthcheck.interval: .*less than 1ms/,
      ],
    ];
    for (const [flags, msg] of cases) {
      const r = await docker(d, ['run', '-d', '--name', 'bad', ...flags, 'busybox', 'true']);
      expect(r.code, flags.join(' ')).not.toBe(0);
      expect(r.stderr, flags.join(' ')).toMatch(msg);
    }
    // The CLI refuses negative durations itself; the API refuses them too, naming the field.
    expect(
      (await docker(d, ['run', '-d', '--health-cmd', 'true', '--health-interval', '-1s', 'busybox', 'true']))
        .code,
    ).not.toBe(0);
    // The docker CLI refuses --rm with --restart itself; shoald refuses the same body from any client.
    expect((await docker(d, ['run', '--rm', '--restart', 'always', 'busybox', 'true'])).stderr).toMatch(
      /--restart and --rm/,
    );
    const body = (hc: Record<string, unknown>, cfg: Record<string, unknown> = {}) => ({
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: hc,
      ...cfg,
    });
    const apiCases: [unknown, RegExp][] = [
      [
        body({ AutoRemove: true, RestartPolicy: { Name: 'always' } }),
        /invalid restartPolicy: Conflicting options: --restart and --rm/,
      ],
      [
        body({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } }),
        /invalid restartPolicy: maximum retry count cannot be negative/,
      ],
      [body({}, { Healthcheck: { Test: ['CMD', 'true'], Interval: -1 } }), /invalid healthcheck.interval: /],
      [body({}, { Healthcheck: { Test: ['CMD', 'true'], Timeout: -5e9 } }), /invalid healthcheck.timeout: /],
      [
        body({}, { Healthcheck: { Test: ['CMD', 'true'], Retries: -1 } }),
        /invalid healthcheck.retries: -1: cannot be negative/,
      ],
      [
        body({}, { Healthcheck: { Test: ['CMD', 'true'], StartPeriod: 10 } }),
        /invalid healthcheck.startPeriod: /,
      ],
      [
        body({}, { Healthcheck: { Test: ['RUN', 'true'] } }),
        /invalid healthcheck.test: must start with NONE, CMD or CMD-SHELL/,
      ],
      [body({}, { Healthcheck: { Interval: '1s' } }), /invalid Healthcheck.Interval: must be an integer/],
    ];
    for (const [b, msg] of apiCases) {
      const r = await api(d, 'POST', '/containers/create?name=bad', b);
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(JSON.parse(r.body).message, JSON.stringify(b)).toMatch(msg);
    }
    expect(await names()).toEqual(before);
  });

  it('after a shoald restart, an always container that exited meanwhile runs again with its count kept', async () => {
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'boot',
          '--restart',
          'always',
          '-v',
          `${d.dir}:/ctl`,
          'busybox',
          'sh',
          '-c',
          'while [ ! -e /ctl/boot-stop ]; do sleep 0.1; done; rm /ctl/boot-stop; exit 7',
        ])
      ).code,
    ).toBe(0);
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'stopped-always',
          '--restart',
          'always',
          'busybox',
          'sleep',
          '1000',
        ])
      ).code,
    ).toBe(0);
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'stopped-unless',
          '--restart',
          'unless-stopped',
          'busybox',
          'sleep',
          '1000',
        ])
      ).code,
    ).toBe(0);
    expect((await docker(d, ['stop', '-t', '0', 'stopped-always', 'stopped-unless'])).code).toBe(0);
    // One restart while shoald runs, so the count is not 0.
    writeFileSync(join(d.dir, 'boot-stop'), '');
    await eventually(
      async () => (await fmt('boot', '{{.RestartCount}} {{.State.Status}}')) === '1 running',
      'first restart',
      200,
    );
    await eventually(() => !existsSync(join(d.dir, 'boot-stop')), 'the container removed its stop file');

    await stopShoald(d);
    writeFileSync(join(d.dir, 'boot-stop'), ''); // it exits while shoald is down
    await eventually(() => !existsSync(join(d.dir, 'boot-stop')), 'exit while shoald is down');
    d = await startShoald(d.dir);
    await eventually(
      async () => (await fmt('boot', '{{.RestartCount}} {{.State.Status}}')) === '2 running',
      'restarted after the daemon restart',
      200,
    );
    // docker stop'ped: always starts again at daemon start (dockerd: "until the daemon restarts"), unless-stopped does not.
    await eventually(
      async () => (await fmt('stopped-always', '{{.State.Status}}')) === 'running',
      'always started at boot',
      200,
    );
    expect(await fmt('stopped-unless', '{{.State.Status}}')).toBe('exited');
    expect((await docker(d, ['rm', '-f', 'boot', 'stopped-always', 'stopped-unless'])).code).toBe(0);
  });
});

describe('health checks', () => {
  it('starting → unhealthy → healthy, in inspect, ps (and its filter) and health_status events', async () => {
    const events = spawn(
      'docker',
      [
        '-H',
        `unix://${d.sock}`,
        'events',
        '--filter',
        'event=health_status',
        '--format',
        '{{.Action}} {{.Actor.Attributes.name}}',
      ],
      { env: { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config'), DOCKER_HOST: '' } },
    );
    let evOut = '';
    events.stdout.on('data', (c: Buffer) => {
      evOut += c.toString();
    });
    try {
      const r = await docker(d, [
        'run',
        '-d',
        '--name',
        'hc',
        '--health-cmd',
        'test -f /tmp/ok',
        '--health-interval',
        '200ms',
        '--health-retries',
        '2',
        'busybox',
        'sleep',
        '1000',
      ]);
      expect(r.code).toBe(0);
      const cfg = await inspect('hc');
      expect(cfg.Config.Healthcheck).toEqual({
        Test: ['CMD-SHELL', 'test -f /tmp/ok'],
        Interval: 200e6,
        Retries: 2,
      });
      await eventually(
        async () => (await fmt('hc', '{{.State.Health.Status}}')) === 'unhealthy',
        'unhealthy',
        200,
      );
      const h = (await inspect('hc')).State.Health;
      expect(h.FailingStreak).toBeGreaterThanOrEqual(2);
      expect(h.Log.length).toBeGreaterThanOrEqual(2);
      expect(h.Log.length).toBeLessThanOrEqual(5);
      expect(h.Log[0]).toMatchObject({ ExitCode: 1 });
      expect((await docker(d, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])).stdout).toMatch(
        /^Up .* \(unhealthy\)\n$/,
      );
      expect((await docker(d, ['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}'])).stdout).toBe(
        'hc\n',
      );
      // An unhealthy container is reported, not restarted.
      expect(await fmt('hc', '{{.State.Status}} {{.RestartCount}}')).toBe('running 0');

      expect((await docker(d, ['exec', 'hc', 'touch', '/tmp/ok'])).code).toBe(0);
      await eventually(
        async () => (await fmt('hc', '{{.State.Health.Status}}')) === 'healthy',
        'healthy',
        200,
      );
      expect((await inspect('hc')).State.Health.FailingStreak).toBe(0);
      expect((await docker(d, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}'])).stdout).toMatch(
        /^Up .* \(healthy\)\n$/,
      );
      expect((await docker(d, ['ps', '--filter', 'health=healthy', '--format', '{{.Names}}'])).stdout).toBe(
        'hc\n',
      );
      await eventually(() => evOut.includes('health_status: healthy hc'), 'the healthy event');
      expect(evOut).toContain('health_status: unhealthy hc\n');
      expect(evOut.indexOf('unhealthy')).toBeLessThan(evOut.indexOf('health_status: healthy'));
    } finally {
      events.kill();
    }
    expect((await docker(d, ['rm', '-f', 'hc'])).code).toBe(0);
  });

  it('--no-healthcheck: no health state, not probed', async () => {
    expect(
      (await docker(d, ['run', '-d', '--name', 'nohc', '--no-healthcheck', 'busybox', 'sleep', '1000'])).code,
    ).toBe(0);
    const i = await inspect('nohc');
    expect(i.Config.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(i.State.Health).toBeUndefined();
    expect((await docker(d, ['ps', '--filter', 'name=nohc', '--format', '{{.Status}}'])).stdout).toMatch(
      /^Up [^(]*\n$/,
    );
    expect((await docker(d, ['ps', '--filter', 'health=none', '--format', '{{.Names}}'])).stdout).toContain(
      'nohc\n',
    );
    expect((await docker(d, ['rm', '-f', 'nohc'])).code).toBe(0);
  });
});

describe('the shoal CLI', () => {
  it('run --restart and --health-cmd reach the same engine behaviour', async () => {
    expect(
      (
        await shoal(d, [
          'run',
          '-d',
          '--name',
          'sh-of',
          '--restart',
          'on-failure:1',
          '--rootfs',
          ROOTFS,
          'sh',
          '-c',
          'exit 2',
        ])
      ).code,
    ).toBe(0);
    await eventually(
      async () => (await fmt('sh-of', '{{.State.Status}} {{.RestartCount}}')) === 'exited 1',
      'one restart',
      200,
    );
    expect(
      (
        await shoal(d, [
          'run',
          '-d',
          '--name',
          'sh-hc',
          '--health-cmd',
          'true',
          '--health-interval',
          '100ms',
          '--rootfs',
          ROOTFS,
          'sleep',
          '100',
        ])
      ).code,
    ).toBe(0);
    await eventually(
      async () => /\(healthy\)/.test((await shoal(d, ['ps', '--filter', 'name=sh-hc'])).stdout),
      'healthy in shoal ps',
      200,
    );
    expect((await shoal(d, ['update', '--restart', 'always', 'sh-hc'])).stdout).toBe('sh-hc\n');
    expect(await fmt('sh-hc', '{{.HostConfig.RestartPolicy.Name}}')).toBe('always');
    const badUpdate = await shoal(d, ['update', '--restart', 'always:2', 'sh-hc']);
    expect(badUpdate.code).not.toBe(0);
    expect(badUpdate.stderr).toMatch(/maximum retry count can only be used with 'on-failure'/);
    const bad = await shoal(d, ['run', '--restart', 'bogus', '--rootfs', ROOTFS, 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/invalid restartPolicy: unknown policy 'bogus'/);
    expect((await docker(d, ['rm', '-f', 'sh-of', 'sh-hc'])).code).toBe(0);
  });
});

describe('environment', () => {
  it('-e VAR with VAR unset locally leaves VAR out of the container (nor VAR=)', async () => {
    expect(process.env.SHOAL_UNSET_VAR).toBeUndefined();
    const r = await docker(d, [
      'run',
      '--rm',
      '-e',
      'SHOAL_UNSET_VAR',
      '-e',
      'SET_ONE=1',
      'busybox',
      'sh',
      '-c',
      'env | sort',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('SET_ONE=1\n');
    expect(r.stdout).not.toMatch(/SHOAL_UNSET_VAR/);
  });
});
