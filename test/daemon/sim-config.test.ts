import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../../daemon/sim/config.js';

const base = [
  '--join-token',
  'SWMTKN-1-x',
  '--manager',
  '10.0.0.1:2377',
  '--nodes',
  '250',
  '--state-dir',
  '/run/s',
];

describe('shoald-sim flags', () => {
  it('takes the token, managers (repeatable), node count and state directory, with defaults for the rest', () => {
    expect(parseSimArgs([...base, '--manager=10.0.0.2:2377', '--first-index', '251'])).toEqual({
      kind: 'run',
      config: {
        joinToken: 'SWMTKN-1-x',
        managers: ['10.0.0.1:2377', '10.0.0.2:2377'],
        nodes: 250,
        stateDir: '/run/s',
        hostnamePrefix: 'sim',
        firstIndex: 251,
        joinConcurrency: 16,
      },
    });
    expect(parseSimArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it('refuses missing and bad values, naming the flag', () => {
    const err = (argv: string[]) => {
      const r = parseSimArgs(argv);
      return r.kind === 'error' ? r.message : '';
    };
    expect(err(base.slice(2))).toBe('--join-token is required');
    expect(err([...base.slice(0, 2), ...base.slice(4)])).toBe('--manager is required');
    expect(err([...base, '--nodes', '0'])).toBe('--nodes: 0 is not between 1 and 5000');
    expect(err([...base, '--nodes', 'many'])).toBe('--nodes: "many" is not a whole number');
    expect(err([...base, '--manager', 'nohost'])).toBe('--manager: "nohost" is not host:port');
    expect(err([...base, '--state-dir', 'rel'])).toBe('--state-dir: "rel" is not an absolute path');
    expect(err([...base, '--hostname-prefix', 'Bad_'])).toMatch(/^--hostname-prefix: "Bad_"/);
    expect(err([...base, '--join-concurrency', '500'])).toBe(
      '--join-concurrency: 500 is not between 1 and 200',
    );
    expect(err([...base, '--turbo'])).toBe('unknown flag: --turbo');
  });
});
