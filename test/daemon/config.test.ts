import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseDaemonArgs, parseHost } from '../../daemon/config.js';

describe('shoald flags', () => {
  it('defaults like dockerd and accepts both --flag value and --flag=value', () => {
    expect(parseDaemonArgs([])).toEqual({ kind: 'run', config: DEFAULT_CONFIG });
    expect(parseDaemonArgs(['--data-root=/d', '--exec-root', '/e', '-H', 'unix:///s.sock'])).toEqual({
      kind: 'run',
      config: { dataRoot: '/d', execRoot: '/e', socketPath: '/s.sock', insecureRegistries: [] },
    });
    expect(parseDaemonArgs(['--host=/plain/path.sock'])).toMatchObject({
      config: { socketPath: '/plain/path.sock' },
    });
    expect(parseDaemonArgs(['--help'])).toEqual({ kind: 'help' });
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
});
