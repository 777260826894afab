// The converge benchmark's command line and its statistics: pure, no cluster.
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './options.js';
import { median, ratios, summarize } from './stats.js';

describe('converge options', () => {
  it('defaults to 3 managers, 2 workers, 3 runs, no peer', () => {
    expect(parseArgs([])).toEqual({
      managers: 3,
      workers: 2,
      runs: 3,
      peer: null,
      pollMs: 25,
      waitMaxS: 300,
      settleS: 5,
    });
  });

  it('takes `--flag value` and `--flag=value`', () => {
    expect(parseArgs(['--managers', '1', '--workers=4', '--runs', '1', '--peer', 'swarm'])).toMatchObject({
      managers: 1,
      workers: 4,
      runs: 1,
      peer: 'swarm',
    });
    expect(parseArgs(['--workers', '0', '--settle-s=0']).workers).toBe(0);
  });

  it.each([
    [['--runs', '0'], /--runs needs a whole number ≥ 1, got "0"/],
    [['--managers', '0'], /--managers needs a whole number ≥ 1/],
    [['--workers', '-1'], /--workers needs a whole number ≥ 0, got "-1"/],
    [['--workers', ''], /--workers needs a whole number/],
    [['--runs', '1e1'], /--runs needs a whole number/],
    [['--runs', '2.5'], /--runs needs a whole number/],
    [['--runs'], /--runs needs a value/],
    [['--peer', 'k8s'], /the only peer is "swarm", got "k8s"/],
    [['--peer'], /the only peer is "swarm"/],
    [['--replicas', '3'], /unknown argument "--replicas"/],
    [['swarm'], /unknown argument "swarm"/],
  ])('refuses %j', (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(msg);
  });
});

describe('converge statistics', () => {
  it('median of odd and even counts, none for no samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it('summaries keep every sample, the errors and the reason a figure is missing', () => {
    const s = summarize({
      a: { samples: [0.3, 0.1, 0.2] },
      b: { samples: [], reason: 'one manager' },
      c: { samples: [1], errors: ['timed out'] },
    });
    expect(s.a).toEqual({ median: 0.2, samples: [0.3, 0.1, 0.2] });
    expect(s.b).toEqual({ median: null, samples: [], reason: 'one manager' });
    expect(s.c).toEqual({ median: 1, samples: [1], errors: ['timed out'] });
  });

  it('ratios only where both sides have a median', () => {
    const a = summarize({ x: { samples: [1] }, y: { samples: [], reason: 'r' }, only: { samples: [1] } });
    const b = summarize({ x: { samples: [4] }, y: { samples: [2] }, z: { samples: [0] } });
    expect(ratios(a, b)).toEqual({ x: 0.25, y: null });
  });
});
