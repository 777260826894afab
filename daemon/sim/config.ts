// shoald-sim's command line (pure): many simulated worker nodes in one process, for scale runs.

export interface SimHostConfig {
  /** A worker join token of the swarm. */
  joinToken: string;
  /** Manager addresses (host:port) to join through and to start sessions with. */
  managers: string[];
  /** How many worker nodes this process hosts. */
  nodes: number;
  /** Where each node keeps its certificate and task file (<state-dir>/<hostname>/). */
  stateDir: string;
  /** Node host names are <prefix>-<index>, so several hosts (and runs) do not clash. */
  hostnamePrefix: string;
  /** The index of this process's first node (default 1). */
  firstIndex: number;
  /** Joins (certificate requests) in flight at once. */
  joinConcurrency: number;
}

export const SIM_USAGE = `Usage: shoald-sim --join-token TOKEN --manager HOST:PORT --nodes N --state-dir DIR [OPTIONS]

Hosts N simulated worker nodes in one process (shoald's simulated executor: tasks go through every state,
no container is made). Each node has its own certificate (joined with the worker token) and its own
dispatcher session. Prints "shoald-sim: N nodes in session" once every node has had a session.

Options:
      --join-token string       A worker join token (required)
      --manager host:port       A manager to join through (repeatable; required)
      --nodes int               Nodes to host (1-5000, required)
      --state-dir string        Absolute directory for the nodes' certificates and task files (required;
                                a node found there resumes with its certificate instead of joining again)
      --hostname-prefix string  Nodes are named PREFIX-INDEX (default "sim")
      --first-index int         Index of the first node (default 1)
      --join-concurrency int    Joins in flight at once (1-200, default 16)
      --help                    Print usage
`;

export type ParsedSimArgs =
  | { kind: 'run'; config: SimHostConfig }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

function intIn(flag: string, v: string | undefined, min: number, max: number): number | string {
  if (v === undefined || !/^\d+$/.test(v)) return `${flag}: "${v ?? ''}" is not a whole number`;
  const n = Number(v);
  if (n < min || n > max) return `${flag}: ${n} is not between ${min} and ${max}`;
  return n;
}

export function parseSimArgs(argv: string[]): ParsedSimArgs {
  const c: Partial<SimHostConfig> & { managers: string[] } = {
    managers: [],
    hostnamePrefix: 'sim',
    firstIndex: 1,
    joinConcurrency: 16,
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    const num = (min: number, max: number): number | { kind: 'error'; message: string } => {
      const n = intIn(arg, value(), min, max);
      return typeof n === 'number' ? n : { kind: 'error', message: n };
    };
    switch (arg) {
      case '--join-token': {
        const v = value();
        if (!v) return { kind: 'error', message: '--join-token needs a token' };
        c.joinToken = v;
        break;
      }
      case '--manager': {
        const v = value();
        if (!v || !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(v))
          return { kind: 'error', message: `--manager: "${v ?? ''}" is not host:port` };
        c.managers.push(v);
        break;
      }
      case '--state-dir': {
        const v = value();
        if (!v?.startsWith('/'))
          return { kind: 'error', message: `--state-dir: "${v ?? ''}" is not an absolute path` };
        c.stateDir = v;
        break;
      }
      case '--hostname-prefix': {
        const v = value();
        if (!v || !/^[a-z][a-z0-9-]{0,40}$/.test(v))
          return {
            kind: 'error',
            message: `--hostname-prefix: "${v ?? ''}" must be 1-41 of a-z 0-9 -, starting with a letter`,
          };
        c.hostnamePrefix = v;
        break;
      }
      case '--nodes':
      case '--first-index':
      case '--join-concurrency': {
        const n =
          arg === '--nodes' ? num(1, 5000) : arg === '--first-index' ? num(0, 1_000_000) : num(1, 200);
        if (typeof n !== 'number') return n;
        if (arg === '--nodes') c.nodes = n;
        else if (arg === '--first-index') c.firstIndex = n;
        else c.joinConcurrency = n;
        break;
      }
      default:
        return { kind: 'error', message: `unknown flag: ${argv[i]}` };
    }
  }
  if (!c.joinToken) return { kind: 'error', message: '--join-token is required' };
  if (c.managers.length === 0) return { kind: 'error', message: '--manager is required' };
  if (c.nodes === undefined) return { kind: 'error', message: '--nodes is required' };
  if (!c.stateDir) return { kind: 'error', message: '--state-dir is required' };
  return { kind: 'run', config: c as SimHostConfig };
}
