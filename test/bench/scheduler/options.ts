// The scheduler benchmark's command line: flags as `--flag value` or `--flag=value`, bad input refused by name.

export const USAGE =
  'npm run bench -- scheduler [--nodes 1000] [--replicas 100000] [--managers 3] [--procs 4] ' +
  '[--poll-ms 250] [--wait-max-s 1800]';

export class UsageError extends Error {}

export interface Options {
  /** Simulated worker nodes (besides the managers). */
  nodes: number;
  replicas: number;
  managers: number;
  /** shoald-sim processes the nodes are spread over. */
  procs: number;
  pollMs: number;
  waitMaxS: number;
}

export function parseArgs(argv: string[]): Options {
  const o: Options = { nodes: 1000, replicas: 100_000, managers: 3, procs: 4, pollMs: 250, waitMaxS: 1800 };
  const num = (flag: string, v: string | undefined, min: number, max: number): number => {
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    const n = /^\d{1,7}$/.test(v) ? Number(v) : Number.NaN;
    if (!(n >= min && n <= max))
      throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--nodes':
        o.nodes = num(flag, value(), 1, 5000);
        break;
      case '--replicas':
        o.replicas = num(flag, value(), 1, 1_000_000);
        break;
      case '--managers':
        o.managers = num(flag, value(), 1, 7);
        break;
      case '--procs':
        o.procs = num(flag, value(), 1, 64);
        break;
      case '--poll-ms':
        o.pollMs = num(flag, value(), 1, 60_000);
        break;
      case '--wait-max-s':
        o.waitMaxS = num(flag, value(), 1, 86_400);
        break;
      default:
        throw new UsageError(`unknown argument "${argv[i]}"`);
    }
  }
  if (o.procs > o.nodes)
    throw new UsageError(`--procs: ${o.procs} processes for ${o.nodes} nodes (at most one per node)`);
  return o;
}
