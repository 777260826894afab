import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './options.js';

describe('scheduler bench options', () => {
  it('defaults to 1,000 nodes and 100,000 replicas on 3 managers', () => {
    expect(parseArgs([])).toEqual({
      nodes: 1000,
      replicas: 100_000,
      managers: 3,
      procs: 4,
      pollMs: 250,
      waitMaxS: 1800,
    });
    expect(parseArgs(['--nodes', '100', '--replicas=10000', '--procs', '2'])).toMatchObject({
      nodes: 100,
      replicas: 10_000,
      procs: 2,
    });
  });
  it('refuses bad values, naming the flag', () => {
    expect(() => parseArgs(['--replicas', '0'])).toThrow(/--replicas/);
    expect(() => parseArgs(['--replicas', '-5'])).toThrow(UsageError);
    expect(() => parseArgs(['--nodes'])).toThrow(/--nodes needs a value/);
    expect(() => parseArgs(['--procs', '9', '--nodes', '4'])).toThrow(/--procs/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument "--fast"/);
  });
});
