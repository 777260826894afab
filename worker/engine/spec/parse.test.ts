import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from './defaults.js';
import {
  checkCpuset,
  checkHostname,
  mergeMountOptions,
  normalizeCapability,
  parseBind,
  parseBytes,
  parseBytesOrUnlimited,
  parseCpus,
  parseSecurityOpts,
  parseSignal,
  parseTmpfs,
  parseUlimit,
  resolveCapabilities,
  toRlimit,
} from './parse.js';

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as InvalidArgumentError).field;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('parseBytes', () => {
  it('reads docker size strings with binary units', () => {
    expect(parseBytes('memory', '512m')).toBe(512 * 1024 * 1024);
    expect(parseBytes('memory', '1g')).toBe(1024 ** 3);
    expect(parseBytes('memory', '1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('memory', '100k')).toBe(102400);
    expect(parseBytes('memory', '64MiB')).toBe(64 * 1024 * 1024);
    expect(parseBytes('memory', '4096')).toBe(4096);
    expect(parseBytes('memory', '7b')).toBe(7);
    expect(parseBytes('memory', 123456)).toBe(123456);
  });
  it('rejects negative, unparsable and fractional values naming the field', () => {
    for (const bad of ['-1', '-512m', 'lots', '12q', '', 'm', '1..2g', '1 2m'])
      expect(() => parseBytes('memory', bad), bad).toThrow(/memory/);
    expect(() => parseBytes('memory', '-5m')).toThrow(/negative/);
    expect(() => parseBytes('memory', -1)).toThrow(/negative/);
    expect(() => parseBytes('memory', 1.5)).toThrow(/whole number/);
    expect(() => parseBytes('memory', '99999999999t')).toThrow(/too large/);
    expect(fieldOf(() => parseBytes('memory', 'x'))).toBe('memory');
  });
  it('round-trips every whole number of bytes and of units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom('', 'k', 'm', 'g'), (n, u) => {
        const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[u]!;
        if (n * mult > Number.MAX_SAFE_INTEGER) return;
        expect(parseBytes('x', `${n}${u}`)).toBe(n * mult);
      }),
    );
  });
  it('allows -1 only where unlimited is meaningful', () => {
    expect(parseBytesOrUnlimited('memorySwap', '-1')).toBe(-1);
    expect(parseBytesOrUnlimited('memorySwap', -1)).toBe(-1);
    expect(parseBytesOrUnlimited('memorySwap', '1g')).toBe(1024 ** 3);
    expect(() => parseBytesOrUnlimited('memorySwap', '-2')).toThrow(/memorySwap/);
  });
});

describe('parseCpus', () => {
  it('turns CPUs into nano-CPUs', () => {
    expect(parseCpus('cpus', '1.5')).toBe(1_500_000_000);
    expect(parseCpus('cpus', '.5')).toBe(500_000_000);
    expect(parseCpus('cpus', 2)).toBe(2e9);
    expect(parseCpus('cpus', '0')).toBe(0);
  });
  it('rejects bad values', () => {
    for (const bad of ['-1', 'two', '1.5.2', '', '0.001'])
      expect(
        fieldOf(() => parseCpus('cpus', bad)),
        bad,
      ).toBe('cpus');
    expect(() => parseCpus('cpus', -0.5)).toThrow(/negative/);
  });
});

describe('capabilities', () => {
  it('accepts short, prefixed and lower-case names', () => {
    expect(normalizeCapability('capAdd', 'NET_ADMIN')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('capAdd', 'cap_net_admin')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('capAdd', 'sys_admin')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability('capAdd', 'all')).toBe('ALL');
  });
  it('names an unknown capability and the field', () => {
    expect(() => normalizeCapability('capAdd', 'CAP_FOO')).toThrow(/unknown capability "CAP_FOO"/);
    expect(fieldOf(() => resolveCapabilities(DEFAULT_CAPABILITIES, [], ['BOGUS']))).toBe('capDrop');
    expect(fieldOf(() => resolveCapabilities(DEFAULT_CAPABILITIES, ['BOGUS'], []))).toBe('capAdd');
  });
  it('follows docker arithmetic', () => {
    expect(resolveCapabilities(DEFAULT_CAPABILITIES)).toEqual([...DEFAULT_CAPABILITIES]);
    const added = resolveCapabilities(DEFAULT_CAPABILITIES, ['NET_ADMIN'], ['chown']);
    expect(added).toContain('CAP_NET_ADMIN');
    expect(added).not.toContain('CAP_CHOWN');
    expect(added).toHaveLength(DEFAULT_CAPABILITIES.length);
    expect(resolveCapabilities(DEFAULT_CAPABILITIES, [], ['ALL'])).toEqual([]);
    expect(resolveCapabilities(DEFAULT_CAPABILITIES, ['KILL'], ['ALL'])).toEqual(['CAP_KILL']);
    expect(resolveCapabilities(DEFAULT_CAPABILITIES, ['ALL'], [])).toEqual([...ALL_CAPABILITIES]);
    expect(resolveCapabilities(DEFAULT_CAPABILITIES, ['ALL'], ['SYS_ADMIN'])).not.toContain('CAP_SYS_ADMIN');
    // Added and dropped: the add wins, as docker.
    expect(resolveCapabilities(DEFAULT_CAPABILITIES, ['NET_ADMIN'], ['NET_ADMIN'])).toContain(
      'CAP_NET_ADMIN',
    );
  });
});

describe('parseSignal', () => {
  it('accepts names and numbers', () => {
    expect(parseSignal('signal', 'TERM')).toEqual({ name: 'SIGTERM', number: 15 });
    expect(parseSignal('signal', 'sigkill')).toEqual({ name: 'SIGKILL', number: 9 });
    expect(parseSignal('signal', '9')).toEqual({ name: 'SIGKILL', number: 9 });
    expect(parseSignal('signal', 10).name).toBe('SIGUSR1');
  });
  it('rejects unknown signals', () => {
    expect(() => parseSignal('stopSignal', 'SIGFOO')).toThrow(/stopSignal.*SIGFOO/);
    expect(() => parseSignal('signal', '99')).toThrow(/unknown signal 99/);
  });
});

describe('parseBind', () => {
  it('parses SRC:DST[:mode]', () => {
    expect(parseBind('/a:/b')).toEqual({
      source: '/a',
      destination: '/b',
      readOnly: false,
      propagation: 'rprivate',
    });
    expect(parseBind('/a/:/b/c/:ro')).toEqual({
      source: '/a',
      destination: '/b/c',
      readOnly: true,
      propagation: 'rprivate',
    });
    expect(parseBind('/a:/b:rw,rshared').propagation).toBe('rshared');
  });
  it('rejects malformed binds', () => {
    for (const bad of ['/a', 'rel:/b', '/a:rel', '/a:/', '/a:/b:bogus', ':/b', '/a:/b:ro:x', 'vol:/data'])
      expect(
        fieldOf(() => parseBind(bad)),
        bad,
      ).toBe('binds');
  });
});

describe('tmpfs', () => {
  it('adds docker defaults and lets options override them', () => {
    expect(parseTmpfs(['/run'])).toEqual([{ destination: '/run', options: ['noexec', 'nosuid', 'nodev'] }]);
    expect(parseTmpfs({ '/t': 'size=64m,exec,mode=1777' })).toEqual([
      { destination: '/t', options: ['nosuid', 'nodev', `size=${64 * 1024 * 1024}`, 'exec', 'mode=1777'] },
    ]);
  });
  it('rejects bad tmpfs options', () => {
    expect(() => parseTmpfs(['/t:size=-1m'])).toThrow(/size/);
    expect(() => parseTmpfs(['/t:mode=999'])).toThrow(/octal/);
    expect(() => parseTmpfs(['/t:bogus'])).toThrow(/unknown option "bogus"/);
    expect(() => parseTmpfs(['rel'])).toThrow(/absolute/);
    expect(() => parseTmpfs(['/t', '/t/'])).toThrow(/twice/);
  });
  it('merges options with later ones winning', () => {
    expect(mergeMountOptions(['noexec', 'size=1'], ['exec', 'size=2'])).toEqual(['exec', 'size=2']);
  });
});

describe('security options', () => {
  it('parses no-new-privileges and seccomp', () => {
    expect(parseSecurityOpts(['no-new-privileges'])).toEqual({
      noNewPrivileges: true,
      seccompUnconfined: false,
    });
    expect(parseSecurityOpts(['no-new-privileges:true']).noNewPrivileges).toBe(true);
    expect(parseSecurityOpts(['no-new-privileges=false']).noNewPrivileges).toBe(false);
    expect(parseSecurityOpts(['seccomp=unconfined']).seccompUnconfined).toBe(true);
    expect(parseSecurityOpts(['apparmor=unconfined'])).toEqual({
      noNewPrivileges: false,
      seccompUnconfined: false,
    });
  });
  it('rejects the rest', () => {
    for (const bad of ['no-new-privileges:maybe', 'seccomp=/x.json', 'bogus', 'seccomp', 'Foo=1'])
      expect(
        fieldOf(() => parseSecurityOpts([bad])),
        bad,
      ).toBe('securityOpt');
  });
});

describe('misc', () => {
  it('checks cpusets', () => {
    expect(checkCpuset('cpusetCpus', '0-1,3')).toBe('0-1,3');
    for (const bad of ['a', '1-', '3-1', '1,,2'])
      expect(() => checkCpuset('cpusetCpus', bad), bad).toThrow(/cpusetCpus/);
  });
  it('checks ulimits', () => {
    expect(toRlimit({ name: 'nofile', soft: 1024, hard: 2048 })).toEqual({
      type: 'RLIMIT_NOFILE',
      soft: 1024,
      hard: 2048,
    });
    expect(parseUlimit('nofile=100:200')).toEqual({ name: 'nofile', soft: 100, hard: 200 });
    expect(parseUlimit('nproc=50')).toEqual({ name: 'nproc', soft: 50, hard: 50 });
    expect(() => toRlimit({ name: 'nofile', soft: 10, hard: 5 })).toThrow(/above hard/);
    expect(() => toRlimit({ name: 'bogus', soft: 1, hard: 1 })).toThrow(/unknown ulimit/);
    expect(() => parseUlimit('nofile')).toThrow(/ulimits/);
  });
  it('checks hostnames', () => {
    expect(checkHostname('hostname', 'web-1.example')).toBe('web-1.example');
    for (const bad of ['-x', 'a_b', 'x'.repeat(64), 'a..b', ''])
      expect(() => checkHostname('hostname', bad), bad).toThrow(/hostname/);
  });
});
