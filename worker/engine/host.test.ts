import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundingCapabilities, hostDevices, onlineCpus, systemCpuNs } from './host.js';
import { ALL_CAPABILITIES } from './spec/defaults.js';

describe('host facts', () => {
  it('decodes CapBnd in kernel capability order', () => {
    expect(ALL_CAPABILITIES.indexOf('CAP_SYS_RESOURCE')).toBe(24);
    expect(ALL_CAPABILITIES.indexOf('CAP_CHECKPOINT_RESTORE')).toBe(40);
    const caps = boundingCapabilities('Name:\tx\nCapBnd:\t000001fffeffffff\n');
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(caps).toHaveLength(ALL_CAPABILITIES.length - 1);
    expect(boundingCapabilities('CapBnd:\t0000000000000003\n')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
  });
  it('reads cpu time, cpus and devices of this host', () => {
    expect(systemCpuNs()).toBeGreaterThan(0);
    expect(onlineCpus()).toBeGreaterThan(0);
    const devs = hostDevices();
    expect(devs).toContainEqual(
      expect.objectContaining({ path: '/dev/null', type: 'c', major: 1, minor: 3 }),
    );
  });

  it('lists real device nodes only: links such as /dev/stdin → /proc/self/fd/0 are not followed', () => {
    const devs = hostDevices();
    const paths = devs.map((d) => d.path);
    expect(paths).not.toContain('/dev/stdin');
    expect(paths.some((p) => p.startsWith('/dev/fd/') || p.startsWith('/dev/pts/'))).toBe(false);
  });

  it('walks a /dev tree without following links, skipping pts, shm, mqueue and console', () => {
    const dev = mkdtempSync(join(tmpdir(), 'shoal-dev-'));
    try {
      const node = (p: string, minor: number) => {
        mkdirSync(join(dev, p, '..'), { recursive: true });
        execFileSync('mknod', [join(dev, p), 'c', '1', String(minor)]);
      };
      node('null', 3);
      node('a/b/zero', 5);
      node('pts/0', 3);
      node('shm/x', 3);
      node('mqueue/x', 3);
      node('console', 3);
      symlinkSync('/proc/self/fd/0', join(dev, 'stdin'));
      symlinkSync('/dev/null', join(dev, 'nullink'));
      writeFileSync(join(dev, 'plain'), '');
      expect(hostDevices(dev).map((d) => [d.path.slice(dev.length), d.type, d.major, d.minor])).toEqual(
        expect.arrayContaining([
          ['/null', 'c', 1, 3],
          ['/a/b/zero', 'c', 1, 5],
        ]),
      );
      expect(hostDevices(dev)).toHaveLength(2);
    } finally {
      rmSync(dev, { recursive: true, force: true });
    }
  });
});
