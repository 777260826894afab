// The converge benchmark's command line: flags as `--flag value` or `--flag=value`, bad input refused by name.

export const USAGE =
  'npm run bench -- converge [--managers N] [--workers M] [--runs K] [--peer swarm] ' +
  '[--poll-ms MS] [--wait-max-s S] [--settle-s S]';

export class UsageError extends Error {}

export interface Options {
  managers: number;
  workers: number;
  runs: number;
  peer: 'swarm' | null;
  pollMs: number;
  waitMaxS: number;
  settleS: number;
}

export function parseArgs(argv: string[]): Options {
  const o: Options = { managers: 3, workers: 2, runs: 3, peer: null, pollMs: 25, waitMaxS: 300, settleS: 5 };
  const num = (flag: string, v: string | undefined, min: number): number => {
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    const n = /^\d{1,6}$/.test(v) ? Number(v) : Number.NaN;
    if (!(n >= min)) throw new UsageError(`${flag} needs a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--managers':
        o.managers = num(flag, value(), 1);
        break;
      case '--workers':
        o.workers = num(flag, value(), 0);
        break;
      case '--runs':
        o.runs = num(flag, value(), 1);
        break;
      case '--poll-ms':
        o.pollMs = num(flag, value(), 1);
        break;
      case '--wait-max-s':
        o.waitMaxS = num(flag, value(), 1);
        break;
      case '--settle-s':
        o.settleS = num(flag, value(), 0);
        break;
      case '--peer': {
        const p = value();
        if (p !== 'swarm') throw new UsageError(`--peer: the only peer is "swarm", got "${p}"`);
        o.peer = 'swarm';
        break;
      }
      default:
        throw new UsageError(`unknown argument "${argv[i]}"`);
    }
  }
  return o;
}
