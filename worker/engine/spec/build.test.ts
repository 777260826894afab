import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import type { ImageConfig, RunOptions } from '../types.js';
import { buildSpec, mergeEnv, type SpecContext } from './build.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS } from './defaults.js';

const files: Record<string, string> = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  '/etc/group': 'root:x:0:\nwheel:x:10:app\napp:x:1000:\n',
};
const ID = 'ab'.repeat(32);
const ctx = (over: Partial<SpecContext> = {}): SpecContext => ({
  id: ID,
  rootfsPath: '/r',
  readRootfsFile: (p) => files[p],
  pathExists: (p) => ['/host/data', '/run/netns/x'].includes(p),
  cgroupsPath: `/shoal/${ID}`,
  hostCpus: 2,
  ...over,
});
const build = (opts: RunOptions, image?: ImageConfig, c = ctx()) => buildSpec(opts, image, c);

function invalid(opts: RunOptions, image?: ImageConfig): InvalidArgumentError {
  try {
    build(opts, image);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error(`accepted ${JSON.stringify(opts)}`);
}

describe('buildSpec: process', () => {
  it('--init puts docker-init in front of the command and names the host init for the runtime', () => {
    const c = ctx({ initPath: '/opt/shoal/shoal-init' });
    const { spec, config } = build({ entrypoint: ['sh', '-c'], cmd: ['exit 7'], init: true }, undefined, c);
    expect(spec.process.args).toEqual(['/sbin/docker-init', '--', 'sh', '-c', 'exit 7']);
    expect(spec.annotations?.['org.shoal.init']).toBe('/opt/shoal/shoal-init');
    // the config keeps the user's command (docker inspect's Path/Args, Config.Cmd)
    expect(config.entrypoint).toEqual(['sh', '-c']);
    expect(config.cmd).toEqual(['exit 7']);
    // no mount: the runtime runs the init from a sealed copy, it is not a file of the container
    expect(spec.mounts?.some((m) => m.destination === '/sbin/docker-init')).toBe(false);
    const plain = build({ cmd: ['true'], init: false }, undefined, c).spec;
    expect(plain.process.args).toEqual(['true']);
    expect(plain.annotations?.['org.shoal.init']).toBeUndefined();
    // a user annotation cannot name an init without --init
    const forged = build(
      { cmd: ['true'], annotations: { 'org.shoal.init': '/bin/evil' } },
      undefined,
      c,
    ).spec;
    expect(forged.annotations?.['org.shoal.init']).toBeUndefined();
  });

  it('has docker defaults for a bare command', () => {
    const { spec, config } = build({ cmd: ['sh', '-c', 'true'] });
    expect(spec.process.args).toEqual(['sh', '-c', 'true']);
    expect(spec.process.env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `HOSTNAME=${ID.slice(0, 12)}`,
      'HOME=/root',
    ]);
    expect(spec.process.cwd).toBe('/');
    expect(spec.process.user).toEqual({ uid: 0, gid: 0, username: 'root' });
    expect(spec.process.terminal).toBe(false);
    expect(spec.process.capabilities?.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.hostname).toBe(ID.slice(0, 12));
    expect(spec.root).toEqual({ path: '/r', readonly: false });
    expect(spec.linux?.cgroupsPath).toBe(`/shoal/${ID}`);
    expect(spec.linux?.namespaces?.map((n) => n.type).sort()).toEqual(
      ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts'].sort(),
    );
    expect(spec.linux?.seccomp?.defaultAction).toBeDefined();
    expect(spec.linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(config.stopSignal).toBe('SIGTERM');
    expect(config.stopTimeout).toBe(10);
  });

  it('merges image config with options as docker does', () => {
    const image: ImageConfig = {
      Env: ['PATH=/img/bin', 'A=1', 'B=2'],
      Entrypoint: ['/entry'],
      Cmd: ['default'],
      WorkingDir: '/srv',
      User: 'app',
      StopSignal: 'SIGQUIT',
      Labels: { a: 'img', b: 'img' },
    };
    const r = build({ env: ['B=3', 'C=4'], tty: true, labels: { b: 'run' } }, image);
    expect(r.spec.process.args).toEqual(['/entry', 'default']);
    expect(r.spec.process.env).toEqual([
      'PATH=/img/bin',
      `HOSTNAME=${ID.slice(0, 12)}`,
      'TERM=xterm',
      'A=1',
      'B=3',
      'C=4',
      'HOME=/home/app',
    ]);
    expect(r.spec.process.cwd).toBe('/srv');
    expect(r.spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10], username: 'app' });
    expect(r.spec.process.terminal).toBe(true);
    expect(r.config.stopSignal).toBe('SIGQUIT');
    expect(r.config.labels).toEqual({ a: 'img', b: 'run' });
    expect(r.config.env).toEqual(['PATH=/img/bin', 'A=1', 'B=3', 'C=4']);
    // cmd replaces the image's Cmd only; entrypoint replaces both.
    expect(build({ cmd: ['x'] }, image).spec.process.args).toEqual(['/entry', 'x']);
    expect(build({ entrypoint: ['/other'] }, image).spec.process.args).toEqual(['/other']);
    expect(build({ entrypoint: [''], cmd: ['ls'] }, image).spec.process.args).toEqual(['ls']);
    expect(build({ user: '0', workingDir: '/w', stopSignal: 'KILL' }, image).spec.process).toMatchObject({
      user: { uid: 0, gid: 0 },
      cwd: '/w',
    });
  });

  it('keeps HOME from env and sets hostname/domainname', () => {
    const { spec } = build({ cmd: ['x'], env: ['HOME=/h'], hostname: 'web', domainname: 'example.org' });
    expect(spec.process.env).toContain('HOME=/h');
    expect(spec.process.env).toContain('HOSTNAME=web');
    expect(spec.hostname).toBe('web');
  });

  it('rejects a missing command, relative workdir, bad env, unknown user', () => {
    expect(invalid({}).field).toBe('cmd');
    expect(invalid({ entrypoint: [''] }, { Cmd: ['x'] }).field).toBe('cmd');
    expect(invalid({ cmd: ['x'], workingDir: 'rel' }).field).toBe('workingDir');
    expect(invalid({ cmd: ['x'], env: ['=x'] }).field).toBe('env');
    expect(invalid({ cmd: ['x'], user: 'ghost' }).field).toBe('user');
    expect(invalid({ cmd: ['x'], hostname: 'bad_host' }).field).toBe('hostname');
    // --init where no init was built (ctx without initPath)
    expect(invalid({ cmd: ['x'], init: true }).field).toBe('init');
    expect(invalid({ cmd: ['x'], stopSignal: 'SIGNOPE' }).field).toBe('stopSignal');
    expect(invalid({ cmd: ['x'], stopTimeout: -5 }).field).toBe('stopTimeout');
  });
});

describe('buildSpec: resources', () => {
  it('sets memory with swap disabled unless asked', () => {
    const r = build({ cmd: ['x'], memory: '512m' });
    expect(r.spec.linux?.resources?.memory).toEqual({ limit: 512 * 2 ** 20, swap: 512 * 2 ** 20 });
    expect(r.hostConfig.memory).toBe(512 * 2 ** 20);
    expect(build({ cmd: ['x'], memory: '1g', memorySwap: '2g' }).spec.linux?.resources?.memory?.swap).toBe(
      2 * 2 ** 30,
    );
    expect(build({ cmd: ['x'], memory: '1g', memorySwap: -1 }).spec.linux?.resources?.memory?.swap).toBe(-1);
    expect(build({ cmd: ['x'] }).spec.linux?.resources?.memory).toBeUndefined();
    // -1 alone (unlimited swap, no limit) is accepted as docker does.
    expect(build({ cmd: ['x'], memorySwap: -1 }).spec.linux?.resources?.memory).toBeUndefined();
  });
  it('rejects bad memory values naming the field', () => {
    expect(invalid({ cmd: ['x'], memory: '-1' }).field).toBe('memory');
    expect(invalid({ cmd: ['x'], memory: 'lots' }).field).toBe('memory');
    expect(invalid({ cmd: ['x'], memory: '1m' }).message).toMatch(/minimum is 6MB/);
    expect(invalid({ cmd: ['x'], memorySwap: '1g' }).field).toBe('memorySwap');
    expect(invalid({ cmd: ['x'], memory: '1g', memorySwap: '512m' }).field).toBe('memorySwap');
  });
  it('turns cpus into quota/period and checks the host count', () => {
    const r = build({ cmd: ['x'], cpus: '1.5', cpuShares: 512, cpusetCpus: '0-1' });
    expect(r.spec.linux?.resources?.cpu).toEqual({ period: 100000, quota: 150000, shares: 512, cpus: '0-1' });
    expect(r.hostConfig.nanoCpus).toBe(1.5e9);
    expect(build({ cmd: ['x'], nanoCpus: 5e8 }).spec.linux?.resources?.cpu).toEqual({
      period: 100000,
      quota: 50000,
    });
    expect(invalid({ cmd: ['x'], cpus: '3' }).message).toMatch(/2 CPUs/);
    expect(invalid({ cmd: ['x'], cpus: 'x' }).field).toBe('cpus');
    expect(invalid({ cmd: ['x'], cpus: '1', nanoCpus: 1e9 }).field).toBe('cpus');
    expect(invalid({ cmd: ['x'], cpuShares: -3 }).field).toBe('cpuShares');
    expect(invalid({ cmd: ['x'], cpusetCpus: 'all' }).field).toBe('cpusetCpus');
  });
  it('sets a pids limit; 0 and -1 mean unlimited', () => {
    expect(build({ cmd: ['x'], pidsLimit: 20 }).spec.linux?.resources?.pids).toEqual({ limit: 20 });
    expect(build({ cmd: ['x'], pidsLimit: 0 }).spec.linux?.resources?.pids).toBeUndefined();
    expect(build({ cmd: ['x'], pidsLimit: -1 }).spec.linux?.resources?.pids).toBeUndefined();
    expect(invalid({ cmd: ['x'], pidsLimit: -7 }).field).toBe('pidsLimit');
  });
  it('replaces the nofile rlimit', () => {
    const r = build({ cmd: ['x'], ulimits: [{ name: 'nofile', soft: 100, hard: 200 }] });
    expect(r.spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]);
    expect(invalid({ cmd: ['x'], ulimits: [{ name: 'nofile', soft: 300, hard: 200 }] }).field).toBe(
      'ulimits',
    );
  });
});

describe('buildSpec: security', () => {
  it('adds and drops capabilities and regenerates the seccomp profile for them', () => {
    const plain = build({ cmd: ['x'] }).spec;
    const admin = build({ cmd: ['x'], capAdd: ['sys_admin'], capDrop: ['CAP_CHOWN'] }).spec;
    expect(admin.process.capabilities?.bounding).toContain('CAP_SYS_ADMIN');
    expect(admin.process.capabilities?.permitted).not.toContain('CAP_CHOWN');
    expect(JSON.stringify(admin.linux?.seccomp)).not.toEqual(JSON.stringify(plain.linux?.seccomp));
    expect(invalid({ cmd: ['x'], capAdd: ['CAP_FOO'] }).message).toMatch(/unknown capability "CAP_FOO"/);
  });
  it('limits capabilities to what the daemon holds', () => {
    const held = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
    const c = ctx({ hostCapabilities: held });
    expect(build({ cmd: ['x'], privileged: true }, undefined, c).spec.process.capabilities?.bounding).toEqual(
      held,
    );
    expect(build({ cmd: ['x'], capAdd: ['ALL'] }, undefined, c).spec.process.capabilities?.bounding).toEqual(
      held,
    );
    try {
      build({ cmd: ['x'], capAdd: ['SYS_RESOURCE'] }, undefined, c);
      throw new Error('accepted');
    } catch (e) {
      expect((e as InvalidArgumentError).field).toBe('capAdd');
      expect((e as Error).message).toMatch(/CAP_SYS_RESOURCE is not in the daemon's capability bounding set/);
    }
  });
  it('no-new-privileges and seccomp=unconfined', () => {
    expect(build({ cmd: ['x'], securityOpt: ['no-new-privileges'] }).spec.process.noNewPrivileges).toBe(true);
    expect(build({ cmd: ['x'], securityOpt: ['seccomp=unconfined'] }).spec.linux?.seccomp).toBeUndefined();
    expect(invalid({ cmd: ['x'], securityOpt: ['wat'] }).field).toBe('securityOpt');
  });
  it('--privileged: all caps, no seccomp, no masks, rw /sys, all devices', () => {
    const dev = { type: 'c' as const, path: '/dev/kmsg', major: 1, minor: 11 };
    const { spec } = build({ cmd: ['x'], privileged: true }, undefined, ctx({ hostDevices: () => [dev] }));
    expect(spec.process.capabilities?.effective).toEqual([...ALL_CAPABILITIES]);
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.linux?.maskedPaths).toEqual([]);
    expect(spec.linux?.readonlyPaths).toEqual([]);
    expect(spec.linux?.devices).toEqual([dev]);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).not.toContain('ro');
  });
  it('maps a user namespace when asked', () => {
    const { spec } = build({ cmd: ['x'], usernsRemap: { hostUid: 100000, hostGid: 100000, size: 65536 } });
    expect(spec.linux?.namespaces).toContainEqual({ type: 'user' });
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
  });
});

describe('buildSpec: mounts, rootfs and network', () => {
  it('adds binds and tmpfs after the defaults, replacing a default at the same place', () => {
    const r = build({
      cmd: ['x'],
      binds: ['/host/data:/data:ro'],
      tmpfs: { '/dev/shm': 'size=1m', '/a/b': '' },
    });
    const dests = r.spec.mounts!.map((m) => m.destination);
    expect(dests.filter((d) => d === '/dev/shm')).toHaveLength(1);
    expect(dests.indexOf('/proc')).toBe(0);
    expect(r.spec.mounts?.find((m) => m.destination === '/data')).toEqual({
      destination: '/data',
      type: 'bind',
      source: '/host/data',
      options: ['rbind', 'rprivate', 'ro'],
    });
    expect(r.mounts.map((m) => [m.type, m.destination, m.rw])).toEqual([
      ['bind', '/data', false],
      ['tmpfs', '/dev/shm', true],
      ['tmpfs', '/a/b', true],
    ]);
  });
  it('rejects a missing bind source, duplicate destinations', () => {
    expect(invalid({ cmd: ['x'], binds: ['/nope:/data'] }).message).toMatch(
      /bind source path \/nope does not exist/,
    );
    expect(invalid({ cmd: ['x'], binds: ['/host/data:/d'], tmpfs: ['/d'] }).message).toMatch(/twice/);
  });
  it('read-only rootfs and shm size', () => {
    const { spec } = build({ cmd: ['x'], readOnly: true, shmSize: '128m' });
    expect(spec.root.readonly).toBe(true);
    expect(spec.mounts?.find((m) => m.destination === '/dev/shm')?.options).toContain(
      `size=${128 * 2 ** 20}`,
    );
  });
  it('network modes', () => {
    const ns = (o: RunOptions, c = ctx()) =>
      build({ cmd: ['x'], ...o }, undefined, c).spec.linux?.namespaces?.find((n) => n.type === 'network');
    expect(ns({})).toEqual({ type: 'network' });
    expect(ns({ networkMode: 'host' })).toBeUndefined();
    expect(ns({ networkMode: '/run/netns/x' })).toEqual({ type: 'network', path: '/run/netns/x' });
    expect(
      ns({ networkMode: 'container:db' }, ctx({ containerNetns: (r) => `/proc/42/ns/net#${r}` })),
    ).toEqual({
      type: 'network',
      path: '/proc/42/ns/net#db',
    });
    expect(
      build({ cmd: ['x'], networkMode: 'host' }, undefined, ctx({ hostHostname: 'box' })).spec.hostname,
    ).toBe('box');
    expect(invalid({ cmd: ['x'], networkMode: '/run/netns/missing' }).field).toBe('networkMode');
    expect(invalid({ cmd: ['x'], networkMode: 'weird' }).field).toBe('networkMode');
  });
  it('carries annotations (overlay, stdin-once)', () => {
    const { spec } = build(
      { cmd: ['x'], stdinOnce: true },
      undefined,
      ctx({ annotations: { 'org.shoal.rootfs.lowerdirs': '/l' } }),
    );
    expect(spec.annotations).toEqual({ 'org.shoal.stdin-once': 'true', 'org.shoal.rootfs.lowerdirs': '/l' });
    // with a TTY the client's end never closes stdin (dockerd's CloseStdin && !TTY): detaching keeps the shell
    expect(
      build({ cmd: ['x'], stdinOnce: true, tty: true }).spec.annotations?.['org.shoal.stdin-once'],
    ).toBeUndefined();
  });
});

describe('env without a value', () => {
  it('a bare KEY unsets KEY (image env and defaults too), as the docker CLI sends `-e VAR` for an unset VAR', () => {
    const { spec, config } = build(
      { cmd: ['x'], env: ['FROM_IMAGE', 'NOT_ANYWHERE', 'TERM', 'B=2'] },
      {
        Env: ['FROM_IMAGE=1', 'KEEP=1'],
      },
    );
    expect((spec.process.env ?? []).filter((e) => /^(FROM_IMAGE|NOT_ANYWHERE|TERM)\b/.test(e))).toEqual([]);
    expect(spec.process.env).toContain('KEEP=1');
    expect(spec.process.env).toContain('B=2');
    expect(config.env).toEqual(['KEEP=1', 'B=2']);
  });

  it('mergeEnv: unset, then set again appends', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['A', 'C', 'A=3'])).toEqual(['B=2', 'A=3']);
  });
});

describe('mergeEnv', () => {
  it('replaces in place and appends new keys', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4', 'A=0'])).toEqual(['A=0', 'B=3', 'C=4']);
  });

  it('keeps the first of duplicate base keys as the one replaced, and a key given twice ends with its last value', () => {
    expect(mergeEnv(['A=1', 'A=2', 'NOVALUE'], ['A=3', 'D=1', 'D=2', 'NOVALUE=x'])).toEqual([
      'A=3',
      'A=2',
      'NOVALUE=x',
      'D=2',
    ]);
  });

  it('merges 200,000 entries with an image env of 60,000 (was quadratic: a minute per create)', () => {
    const base = Array.from({ length: 60_000 }, (_, i) => `IMG${i}=v`);
    const over = Array.from({ length: 200_000 }, (_, i) => `${i % 2 ? 'IMG' : 'NEW'}${i}=w`);
    const out = mergeEnv(base, over);
    expect(out.length).toBe(60_000 + 70_000 + 100_000);
    expect(out[1]).toBe('IMG1=w');
    expect(out.at(-1)).toBe('IMG199999=w');
  });
});

describe('buildSpec: NUL bytes', () => {
  it.each<[string, RunOptions, string]>([
    ['cmd', { cmd: ['tr\u0000ue'] }, 'cmd[0]'],
    ['entrypoint', { entrypoint: ['sh', 'a\u0000b'] }, 'entrypoint[1]'],
    ['env', { cmd: ['x'], env: ['A=1\u0000B=2'] }, 'env[0]'],
    ['workingDir', { cmd: ['x'], workingDir: '/tmp\u0000/x' }, 'workingDir'],
    ['user', { cmd: ['x'], user: 'root\u0000' }, 'user'],
    ['hostname', { cmd: ['x'], hostname: 'h\u0000' }, 'hostname'],
    ['a label value', { cmd: ['x'], labels: { app: 'a\u0000' } }, 'labels.app'],
    ['a label key', { cmd: ['x'], labels: { 'a\u0000': 'v' } }, 'labels.a\u0000'],
    ['a bind', { cmd: ['x'], binds: ['/host/data:/d\u0000'] }, 'binds[0]'],
  ])('refuses a NUL in %s', (_what, opts, field) => {
    const e = invalid(opts);
    expect(e.field).toBe(field);
    expect(e.message).toContain('contains a NUL byte');
  });

  it('refuses a NUL in the image config', () => {
    const e = invalid({}, { Cmd: ['tr\u0000ue'] });
    expect(e.message).toBe('invalid image config.Cmd[0]: contains a NUL byte');
  });
});

describe('buildSpec: sysctls', () => {
  it('sets namespaced ones in the container (net.* in its own network namespace, IPC ones)', () => {
    const sysctls = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '20' };
    expect(build({ cmd: ['true'], sysctls }).spec.linux?.sysctl).toEqual(sysctls);
    expect(build({ cmd: ['true'] }).spec.linux?.sysctl).toBeUndefined();
  });

  it('refuses what would change the host: not namespaced, or net.* without its own network namespace', () => {
    expect(invalid({ cmd: ['true'], sysctls: { 'vm.swappiness': '1' } }).message).toMatch(/not namespaced/);
    expect(invalid({ cmd: ['true'], sysctls: { 'kernel.hostname': 'x' } }).message).toMatch(/not namespaced/);
    expect(
      invalid({ cmd: ['true'], networkMode: 'host', sysctls: { 'net.ipv4.ip_forward': '1' } }).message,
    ).toMatch(/own network namespace/);
    expect(
      invalid({ cmd: ['true'], networkMode: '/run/netns/x', sysctls: { 'net.core.somaxconn': '1' } }).message,
    ).toMatch(/own network namespace/);
    expect(invalid({ cmd: ['true'], sysctls: { 'net/../../x': '1' } }).message).toMatch(/not a sysctl name/);
    expect(invalid({ cmd: ['true'], sysctls: { 'net.a': '1\n2' } }).message).toMatch(/one line/);
  });
});
