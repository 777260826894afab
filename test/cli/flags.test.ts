import { describe, expect, it } from 'vitest';
import { buildCreateRequest, CREATE_FLAGS, RUN_ONLY_FLAGS } from '../../cli/commands/run-options.js';
import { FlagError, parseFlags } from '../../cli/flags.js';
import { formatTable } from '../../cli/table.js';
import { bytesSize, parseBytes, parseNanoCpus } from '../../cli/units.js';
import { humanDuration } from '../../common/humanize.js';

const RUN = [...CREATE_FLAGS, ...RUN_ONLY_FLAGS];
const noEnv = { env: {}, readFile: () => '' };
const build = (argv: string[], env = noEnv) => buildCreateRequest(parseFlags(argv, RUN, false), env);

describe('flag parser', () => {
  it('combines short booleans and stops at the first positional', () => {
    const f = parseFlags(['-itd', '--name=x', '-e', 'A=1', '-eB=2', 'img', 'sh', '-c', '--rm'], RUN, false);
    expect([...f.bools].sort()).toEqual(['detach', 'interactive', 'tty']);
    expect(f.strings.get('name')).toBe('x');
    expect(f.lists.get('env')).toEqual(['A=1', 'B=2']);
    expect(f.positionals).toEqual(['img', 'sh', '-c', '--rm']);
  });

  it('names unknown flags and missing values', () => {
    expect(() => parseFlags(['--nope'], RUN)).toThrow(new FlagError('unknown flag: --nope'));
    expect(() => parseFlags(['--name'], RUN)).toThrow(/flag needs an argument: --name/);
    expect(() => parseFlags(['-Z'], RUN)).toThrow(/unknown shorthand flag: 'Z'/);
  });
});

describe('run flags → create body', () => {
  it('translates limits, mounts and security options as the docker CLI does', () => {
    const r = build([
      '--rm',
      '--name',
      'web',
      '-m',
      '64m',
      '--memory-swap',
      '128m',
      '--cpus',
      '1.5',
      '--pids-limit',
      '50',
      '--cap-add',
      'NET_ADMIN',
      '--cap-drop',
      'ALL',
      '--read-only',
      '-u',
      '1000:1000',
      '-h',
      'box',
      '-w',
      '/tmp',
      '--network',
      'none',
      '--security-opt',
      'no-new-privileges',
      '--ulimit',
      'nofile=100:200',
      '-l',
      'a=b',
      '-v',
      '/src:/dst:ro',
      '--tmpfs',
      '/run:size=1m',
      '--stop-timeout',
      '3',
      '--rootfs',
      '/rootfs',
      'sh',
      '-c',
      'true',
    ]);
    expect(r.name).toBe('web');
    expect(r.image).toBeUndefined();
    const hc = r.body.HostConfig as Record<string, unknown>;
    expect(r.body).toMatchObject({
      Rootfs: '/rootfs',
      Cmd: ['sh', '-c', 'true'],
      Hostname: 'box',
      User: '1000:1000',
      WorkingDir: '/tmp',
      Labels: { a: 'b' },
      StopTimeout: 3,
    });
    expect(hc).toMatchObject({
      AutoRemove: true,
      Memory: 64 * 1024 * 1024,
      MemorySwap: 128 * 1024 * 1024,
      NanoCpus: 1.5e9,
      PidsLimit: 50,
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['ALL'],
      ReadonlyRootfs: true,
      NetworkMode: 'none',
      SecurityOpt: ['no-new-privileges'],
      Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }],
      Binds: ['/src:/dst:ro'],
      Tmpfs: { '/run': 'size=1m' },
    });
  });

  it('--init sends HostConfig.Init true, as the docker CLI; without it no Init', () => {
    expect(build(['--init', 'busybox', 'true']).body.HostConfig).toMatchObject({ Init: true });
    expect(build(['busybox', 'true']).body.HostConfig).not.toHaveProperty('Init');
    expect(() => build(['--init=maybe', 'busybox'])).toThrow();
  });

  it('takes IMAGE from the first positional without --rootfs', () => {
    const r = build(['busybox:1', 'echo', 'hi']);
    expect(r.image).toBe('busybox:1');
    expect(r.body).toMatchObject({ Image: 'busybox:1', Cmd: ['echo', 'hi'] });
  });

  it('reads -e NAME from the local environment (sent bare when unset, to unset it) and --env-file', () => {
    const env = { env: { HOME: '/root' }, readFile: () => '# c\nA=1\n\nHOME\nUNSET\n' };
    const r = build(['-e', 'HOME', '-e', 'MISSING', '--env-file', 'f', '-e', 'X=y', 'img'], env);
    expect(r.body.Env).toEqual(['A=1', 'HOME=/root', 'HOME=/root', 'MISSING', 'X=y']);
  });

  it('--restart and the health flags, as the docker CLI sends them', () => {
    const r = build([
      '--restart',
      'on-failure:3',
      '--health-cmd',
      'true',
      '--health-interval',
      '200ms',
      '--health-retries',
      '2',
      'img',
    ]);
    expect(r.body).toMatchObject({
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } },
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 200e6, Retries: 2 },
    });
    expect(build(['--no-healthcheck', 'img']).body.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(build(['img']).body).toMatchObject({
      HostConfig: { RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } },
    });
    expect(build(['img']).body.Healthcheck).toBeUndefined();
  });

  it.each([
    [['-m', '-5', 'img'], /invalid argument "-5" for "-m, --memory" flag/],
    [['--memory', 'lots', 'img'], /invalid size: 'lots'/],
    [['--cpus', 'x', 'img'], /--cpus/],
    [['--pids-limit', '1.5', 'img'], /not an integer/],
    [['--memory-swap', '1g', 'img'], /always set the Memory limit/],
    [['-v', 'a:/b:ro:x', 'img'], /expected \[SRC:\]DST\[:MODE\]/],
    [['-v', 'name:relative', 'img'], /the destination "relative" must be an absolute path/],
    [['--mount', 'type=volume,src=v', 'img'], /target is required/],
    [['--mount', 'type=volume,dst=/x,colour=red', 'img'], /unexpected key 'colour'/],
    [['--mount', 'type=volume,dst=/x,readonly=maybe', 'img'], /invalid boolean "maybe"/],
    [['--ulimit', 'nofile=9:1', 'img'], /soft limit 9 is larger than hard limit 1/],
    [['--rootfs', '/r'], /--rootfs needs a command/],
    [[], /requires at least 1 argument/],
    [['--restart', 'always', '--rm', 'img'], /Conflicting options: --restart and --rm/],
    [['--restart', 'on-failure:x', 'img'], /maximum retry count must be an integer/],
    [['--restart', ':3', 'img'], /no policy provided before colon/],
    [['--health-interval', '-1s', '--health-cmd', 'x', 'img'], /--health-interval cannot be negative/],
    [['--health-retries', '-1', 'img'], /--health-retries cannot be negative/],
    [['--health-timeout', 'soon', 'img'], /invalid duration/],
    [['--no-healthcheck', '--health-cmd', 'x', 'img'], /conflicts/],
  ])('rejects %j', (argv, message) => {
    expect(() => build(argv as string[])).toThrow(message as RegExp);
  });
});

describe('volume flags', () => {
  it('sends -v NAME:/p as a bind, -v /p as an anonymous volume, --mount and --volumes-from as docker', () => {
    const r = build([
      '-v',
      'data:/d:ro',
      '-v',
      '/anon',
      '--mount',
      'type=volume,source=v2,target=/m,readonly,volume-nocopy,volume-label=a=b,volume-driver=local',
      '--mount',
      'type=bind,src=/h,dst=/b,bind-propagation=rslave',
      '--volumes-from',
      'other:ro',
      'img',
    ]);
    const hc = r.body.HostConfig as Record<string, unknown>;
    expect(hc.Binds).toEqual(['data:/d:ro']);
    expect(r.body.Volumes).toEqual({ '/anon': {} });
    expect(hc.VolumesFrom).toEqual(['other:ro']);
    expect(hc.Mounts).toEqual([
      {
        Type: 'volume',
        Source: 'v2',
        Target: '/m',
        ReadOnly: true,
        VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: {} } },
      },
      { Type: 'bind', Source: '/h', Target: '/b', BindOptions: { Propagation: 'rslave' } },
    ]);
  });
});

describe('units and tables', () => {
  it('parses and prints sizes like docker', () => {
    expect(parseBytes('1g')).toBe(1024 ** 3);
    expect(parseBytes('1.5KiB')).toBe(1536);
    expect(parseBytes('12')).toBe(12);
    expect(parseBytes('-1')).toBeUndefined();
    expect(parseNanoCpus('0.5')).toBe(5e8);
    expect(parseNanoCpus('0')).toBeUndefined();
    expect(bytesSize(1536)).toBe('1.5KiB');
    expect(bytesSize(64 * 1024 * 1024)).toBe('64MiB');
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(90_000)).toBe('About a minute');
    expect(humanDuration(3 * 3_600_000)).toBe('3 hours');
  });

  it('pads columns as docker ps (min 10, padding 3, last column bare)', () => {
    expect(
      formatTable([
        ['CONTAINER ID', 'IMAGE', 'NAMES'],
        ['abc', 'x', 'n'],
      ]),
    ).toBe('CONTAINER ID   IMAGE     NAMES\nabc            x         n\n');
  });
});
