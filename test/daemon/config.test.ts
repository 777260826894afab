import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, hostnameError, parseDaemonArgs, parseHost } from '../../daemon/config.js';

describe('shoald flags', () => {
  it('defaults like dockerd and accepts both --flag value and --flag=value', () => {
    expect(parseDaemonArgs([])).toEqual({ kind: 'run', config: DEFAULT_CONFIG });
    expect(parseDaemonArgs(['--data-root=/d', '--exec-root', '/e', '-H', 'unix:///s.sock'])).toEqual({
      kind: 'run',
      config: {
        dataRoot: '/d',
        execRoot: '/e',
        socketPath: '/s.sock',
        insecureRegistries: [],
        bridge: 'shoal0',
        bip: '172.17.0.1/16',
        ipMasq: true,
        dnsForward: true,
        executor: 'engine',
        dataPathPort: 4789,
      },
    });
    expect(parseDaemonArgs(['--data-path-port', '7789'])).toMatchObject({ config: { dataPathPort: 7789 } });
    for (const bad of ['80', '70000', 'x', ''])
      expect(parseDaemonArgs([`--data-path-port=${bad}`])).toMatchObject({
        kind: 'error',
        message: expect.stringContaining('--data-path-port'),
      });
    expect(parseDaemonArgs(['--dns-forward=false'])).toMatchObject({ config: { dnsForward: false } });
    expect(parseDaemonArgs(['--dns-forward=maybe'])).toMatchObject({ kind: 'error' });
    expect(parseDaemonArgs(['--host=/plain/path.sock'])).toMatchObject({
      config: { socketPath: '/plain/path.sock' },
    });
    expect(parseDaemonArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it('takes the default bridge flags: --bridge NAME|none (-b), --bip CIDR, --ip-masq[=false]', () => {
    expect(parseDaemonArgs(['-b', 'none', '--bip=10.9.0.1/24', '--ip-masq=false'])).toMatchObject({
      config: { bridge: null, bip: '10.9.0.1/24', ipMasq: false },
    });
    expect(parseDaemonArgs(['--bridge', 'br0', '--ip-masq'])).toMatchObject({
      config: { bridge: 'br0', ipMasq: true },
    });
    for (const [argv, msg] of [
      [['--bip', '10.9.0.1'], '--bip: "10.9.0.1" is not an IPv4 address with a prefix'],
      [['--bip', '300.1.1.1/16'], 'is not an IPv4 address'],
      [['--bridge', 'a-name-that-is-too-long'], 'is not an interface name'],
      [['--ip-masq=maybe'], '--ip-masq: "maybe" is not true or false'],
    ] as const)
      expect(parseDaemonArgs([...argv])).toMatchObject({
        kind: 'error',
        message: expect.stringContaining(msg),
      });
  });

  it('collects --insecure-registry (repeatable) and --certs-dir for the registry client', () => {
    expect(
      parseDaemonArgs([
        '--insecure-registry',
        'reg.internal:5000',
        '--insecure-registry=10.0.0.7',
        '--certs-dir',
        '/etc/x/certs.d',
      ]),
    ).toMatchObject({
      kind: 'run',
      config: { insecureRegistries: ['reg.internal:5000', '10.0.0.7'], certsDir: '/etc/x/certs.d' },
    });
    // Defaults never share one array between parses.
    const a = parseDaemonArgs(['--insecure-registry', 'a:1']);
    const b = parseDaemonArgs([]);
    expect(b).toMatchObject({ config: { insecureRegistries: [] } });
    expect(a).toMatchObject({ config: { insecureRegistries: ['a:1'] } });
    expect(parseDaemonArgs(['--insecure-registry', 'http://x'])).toEqual({
      kind: 'error',
      message: '--insecure-registry: "http://x" is not a host[:port]',
    });
    expect(parseDaemonArgs(['--certs-dir', 'rel'])).toEqual({
      kind: 'error',
      message: '--certs-dir must be an absolute path, got "rel"',
    });
  });

  it('names the bad flag or value', () => {
    expect(parseDaemonArgs(['--data-root'])).toEqual({
      kind: 'error',
      message: 'flag --data-root needs a directory',
    });
    expect(parseDaemonArgs(['--exec-root', 'rel'])).toEqual({
      kind: 'error',
      message: '--exec-root must be an absolute path, got "rel"',
    });
    expect(parseDaemonArgs(['--bogus'])).toEqual({ kind: 'error', message: 'unknown flag: --bogus' });
    expect(parseHost('tcp://127.0.0.1:2375')).toEqual({
      error: 'unsupported host "tcp://127.0.0.1:2375": only unix://PATH is supported',
    });
    expect(parseHost('unix://relative.sock')).toEqual({
      error: 'invalid host "unix://relative.sock": the socket path must be absolute',
    });
  });

  it('takes --hostname NAME (an RFC 1123 host name), unset by default', () => {
    expect(parseDaemonArgs([])).toEqual({ kind: 'run', config: DEFAULT_CONFIG });
    expect(DEFAULT_CONFIG.hostname).toBeUndefined(); // main.ts then uses os.hostname()
    expect(parseDaemonArgs(['--hostname', 'demo-m1'])).toMatchObject({
      kind: 'run',
      config: { hostname: 'demo-m1' },
    });
    expect(parseDaemonArgs(['--hostname=Node7.example.com'])).toMatchObject({
      config: { hostname: 'Node7.example.com' },
    });
    for (const good of [
      'a',
      '1',
      'm1',
      '0-0',
      'a.b.c',
      'x'.repeat(63),
      `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(61),
    ])
      expect(hostnameError(good), good).toBeUndefined();
  });

  it('refuses a --hostname that is not an RFC 1123 host name, naming the flag and the fault', () => {
    const bad: [string, string][] = [
      ['', 'is empty'],
      ['-lead', 'has a label "-lead" that starts or ends with a hyphen'],
      ['trail-', 'has a label "trail-" that starts or ends with a hyphen'],
      ['a..b', 'has an empty label (two dots in a row, or a dot at either end)'],
      ['a.', 'has an empty label (two dots in a row, or a dot at either end)'],
      ['under_score', 'has a label "under_score" with characters other than letters, digits and hyphens'],
      ['sp ace', 'has a label "sp ace" with characters other than letters, digits and hyphens'],
      ['é', 'has a label "é" with characters other than letters, digits and hyphens'],
      ['x'.repeat(64), 'has a label of 64 characters (at most 63)'],
      [`${'a'.repeat(63)}.`.repeat(4).slice(0, 254), 'is 254 characters long (at most 253)'],
    ];
    for (const [name, why] of bad) {
      expect(hostnameError(name), name).toBe(why);
      expect(parseDaemonArgs([`--hostname=${name}`]), name).toEqual({
        kind: 'error',
        message: `--hostname: "${name}" is not a valid host name (RFC 1123): it ${why}`,
      });
    }
    expect(parseDaemonArgs(['--hostname'])).toEqual({
      kind: 'error',
      message: 'flag --hostname needs a host name',
    });
    // the next flag is not taken for a name silently
    expect(parseDaemonArgs(['--hostname', '--data-root', '/d'])).toMatchObject({ kind: 'error' });
  });

  it('takes --executor engine|sim and refuses anything else, naming the flag', () => {
    expect(parseDaemonArgs(['--executor=sim'])).toMatchObject({ config: { executor: 'sim' } });
    expect(parseDaemonArgs(['--executor', 'engine'])).toMatchObject({ config: { executor: 'engine' } });
    const bad = parseDaemonArgs(['--executor=docker']);
    expect(bad).toEqual({ kind: 'error', message: '--executor: "docker" is not "engine" or "sim"' });
    expect(parseDaemonArgs(['--executor'])).toMatchObject({
      kind: 'error',
      message: expect.stringContaining('--executor'),
    });
  });
});
