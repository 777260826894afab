import { describe, expect, it } from 'vitest';
import { resolveDevices } from './devices.js';
import { InvalidArgumentError } from './errors.js';

const fails = (fn: () => unknown): InvalidArgumentError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('accepted');
};

describe('resolveDevices (the host /dev)', () => {
  it('stats a node: type, numbers, mode and owner, at the container path', () => {
    expect(
      resolveDevices([{ pathOnHost: '/dev/null', pathInContainer: '/dev/xnull', cgroupPermissions: 'rw' }]),
    ).toEqual([
      { type: 'c', path: '/dev/xnull', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0, access: 'rw' },
    ]);
    expect(resolveDevices(undefined)).toEqual([]);
  });

  it('maps every node of a directory under the container path', () => {
    const got = resolveDevices([{ pathOnHost: '/dev/net', pathInContainer: '/dev/vnet' }]);
    expect(got.find((d) => d.path === '/dev/vnet/tun')).toMatchObject({
      type: 'c',
      major: 10,
      minor: 200,
      access: 'rwm',
    });
    expect(got.every((d) => d.path.startsWith('/dev/vnet/'))).toBe(true);
  });

  it('refuses a missing path, a regular file, an empty directory, naming the mapping', () => {
    const missing = fails(() =>
      resolveDevices([{ pathOnHost: '/dev/null' }, { pathOnHost: '/dev/nope-shoal' }]),
    );
    expect(missing.field).toBe('devices[1].pathOnHost');
    expect(missing.message).toContain('/dev/nope-shoal does not exist');
    expect(fails(() => resolveDevices([{ pathOnHost: '/etc/hostname' }])).message).toContain(
      'is not a character or block device',
    );
    expect(fails(() => resolveDevices([{ pathOnHost: '/proc/self/fdinfo' }])).message).toContain(
      'holds no device nodes',
    );
    expect(fails(() => resolveDevices([{ pathOnHost: '/dev/null', cgroupPermissions: 'x' }])).field).toBe(
      'devices[0].cgroupPermissions',
    );
  });
});
