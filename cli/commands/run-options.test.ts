import { describe, expect, it } from 'vitest';
import { parseFlags } from '../flags.js';
import { buildCreateRequest, CREATE_FLAGS } from './run-options.js';

const noEnv = { env: {}, readFile: () => '' };
const hostConfig = (argv: string[]) =>
  buildCreateRequest(parseFlags(argv, CREATE_FLAGS, false), noEnv).body.HostConfig as Record<string, unknown>;

describe('shoal run --device, --device-cgroup-rule', () => {
  it('become HostConfig.Devices (docker run’s shape) and DeviceCgroupRules', () => {
    const hc = hostConfig([
      '--device',
      '/dev/fuse',
      '--device',
      '/dev/null:/dev/xnull:rw',
      '--device',
      '/dev/zero:r',
      '--device-cgroup-rule',
      'c 10:237 rwm',
      'busybox',
    ]);
    expect(hc.Devices).toEqual([
      { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/null', PathInContainer: '/dev/xnull', CgroupPermissions: 'rw' },
      { PathOnHost: '/dev/zero', PathInContainer: '/dev/zero', CgroupPermissions: 'r' },
    ]);
    expect(hc.DeviceCgroupRules).toEqual(['c 10:237 rwm']);
    expect(hostConfig(['busybox']).Devices).toBeUndefined();
  });

  it('refuses a relative path or bad permissions, naming the flag', () => {
    expect(() => hostConfig(['--device', 'null', 'busybox'])).toThrow(/"--device" flag/);
    expect(() => hostConfig(['--device', '/dev/null:x', 'busybox'])).toThrow(/must be absolute/);
    expect(() => hostConfig(['--device', '/dev/null:/dev/x:rwx', 'busybox'])).toThrow(
      /invalid cgroup permissions/,
    );
  });
});
