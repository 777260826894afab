import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import type { RunOptions } from '../types.js';
import { buildSpec, type SpecContext } from './build.js';
import { DEFAULT_DEVICE_RULES } from './defaults.js';
import { checkDeviceMapping, parseDeviceCgroupRule, type ResolvedDevice } from './devices.js';

const ID = 'cd'.repeat(32);
const ctx = (devices?: ResolvedDevice[]): SpecContext => ({
  id: ID,
  rootfsPath: '/r',
  readRootfsFile: () => undefined,
  pathExists: () => false,
  cgroupsPath: `/shoal/${ID}`,
  devices,
});
const xnull: ResolvedDevice = {
  type: 'c',
  path: '/dev/xnull',
  major: 1,
  minor: 3,
  fileMode: 0o666,
  uid: 0,
  gid: 0,
  access: 'rw',
};

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).field;
  }
  throw new Error('accepted');
}

describe('checkDeviceMapping', () => {
  it('defaults the container path to the host one and permissions to rwm', () => {
    expect(checkDeviceMapping({ pathOnHost: '/dev/fuse' }, 0)).toEqual({
      host: '/dev/fuse',
      container: '/dev/fuse',
      access: 'rwm',
    });
    expect(
      checkDeviceMapping(
        { pathOnHost: '/dev//null', pathInContainer: '/dev/x/', cgroupPermissions: 'mr' },
        0,
      ),
    ).toEqual({ host: '/dev/null', container: '/dev/x', access: 'mr' });
  });

  it('refuses relative paths, bad or repeated permissions, naming the field', () => {
    expect(fieldOf(() => checkDeviceMapping({ pathOnHost: '' }, 0))).toBe('devices[0].pathOnHost');
    expect(fieldOf(() => checkDeviceMapping({ pathOnHost: 'dev/null' }, 1))).toBe('devices[1].pathOnHost');
    expect(fieldOf(() => checkDeviceMapping({ pathOnHost: '/dev/null', pathInContainer: 'x' }, 2))).toBe(
      'devices[2].pathInContainer',
    );
    expect(fieldOf(() => checkDeviceMapping({ pathOnHost: '/dev/null', pathInContainer: '/..' }, 0))).toBe(
      'devices[0].pathInContainer',
    );
    for (const p of ['x', 'rwx', 'rr', 'rwmr', 'RW', ' r'])
      expect(fieldOf(() => checkDeviceMapping({ pathOnHost: '/dev/null', cgroupPermissions: p }, 0))).toBe(
        'devices[0].cgroupPermissions',
      );
  });
});

describe('parseDeviceCgroupRule', () => {
  it('parses type, numbers or *, access', () => {
    expect(parseDeviceCgroupRule('c 1:3 rwm', 0)).toEqual({
      allow: true,
      type: 'c',
      major: 1,
      minor: 3,
      access: 'rwm',
    });
    expect(parseDeviceCgroupRule('b 8:* r', 0)).toEqual({
      allow: true,
      type: 'b',
      major: 8,
      minor: null,
      access: 'r',
    });
    expect(parseDeviceCgroupRule('a *:* m', 0)).toEqual({
      allow: true,
      type: 'a',
      major: null,
      minor: null,
      access: 'm',
    });
  });

  it('refuses anything else, naming the rule', () => {
    for (const r of [
      '',
      'c 1:3',
      'x 1:3 rwm',
      'c 1 rwm',
      'c a:3 rwm',
      'c 1:3 rwx',
      'c 1:3 rr',
      'c -1:3 r',
      'c 1:3 rwm extra',
    ])
      expect(fieldOf(() => parseDeviceCgroupRule(r, 3))).toBe('deviceCgroupRules[3]');
    expect(fieldOf(() => parseDeviceCgroupRule('c 99999999999:1 r', 0))).toBe('deviceCgroupRules[0]');
  });
});

describe('buildSpec with devices', () => {
  const build = (opts: RunOptions, devices?: ResolvedDevice[]) =>
    buildSpec({ cmd: ['sh'], ...opts }, undefined, ctx(devices)).spec;

  it('adds the node and an allow rule with its permissions after the defaults', () => {
    const spec = build({ devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/xnull' }] }, [xnull]);
    expect(spec.linux?.devices).toEqual([
      { type: 'c', path: '/dev/xnull', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    expect(spec.linux?.resources?.devices).toEqual([
      ...DEFAULT_DEVICE_RULES,
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
    ]);
  });

  it('adds --device-cgroup-rule rules; nothing changes without devices', () => {
    const spec = build({ deviceCgroupRules: ['c 10:237 rwm', 'b *:* r'] });
    expect(spec.linux?.devices).toBeUndefined();
    expect(spec.linux?.resources?.devices?.slice(DEFAULT_DEVICE_RULES.length)).toEqual([
      { allow: true, type: 'c', major: 10, minor: 237, access: 'rwm' },
      { allow: true, type: 'b', major: null, minor: null, access: 'r' },
    ]);
    expect(build({}).linux?.resources?.devices).toEqual(DEFAULT_DEVICE_RULES);
  });

  it('a privileged container keeps its host nodes, one replaced at the mapped path', () => {
    const host = [
      { type: 'c' as const, path: '/dev/kmsg', major: 1, minor: 11 },
      { type: 'c' as const, path: '/dev/xnull', major: 9, minor: 9 },
    ];
    const spec = buildSpec(
      {
        cmd: ['sh'],
        privileged: true,
        devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/xnull' }],
      },
      undefined,
      { ...ctx([xnull]), hostDevices: () => host },
    ).spec;
    expect(spec.linux?.devices?.map((d) => `${d.path} ${d.major}:${d.minor}`)).toEqual([
      '/dev/kmsg 1:11',
      '/dev/xnull 1:3',
    ]);
  });

  it('refuses bad rules, two devices at one path, and devices not resolved by the caller', () => {
    expect(fieldOf(() => build({ deviceCgroupRules: ['c 1:3'] }))).toBe('deviceCgroupRules[0]');
    expect(
      fieldOf(() => build({ devices: [{ pathOnHost: '/a' }, { pathOnHost: '/b' }] }, [xnull, xnull])),
    ).toBe('devices');
    expect(fieldOf(() => build({ devices: [{ pathOnHost: '/dev/null' }] }))).toBe('devices');
  });
});
