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
});
