// shoald's command line, like dockerd's: --data-root, -H/--host unix://PATH, --exec-root,
// --insecure-registry HOST[:PORT] (repeatable), --certs-dir DIR; and --hostname NAME (the node's name in
// the swarm and in /info, so several daemons on one machine, as in deploy/local-cluster.sh, differ).

export interface DaemonConfig {
  dataRoot: string;
  execRoot: string;
  /** Filesystem path of the unix socket to listen on. */
  socketPath: string;
  /** Registries spoken to over plain HTTP (host[:port]); loopback registries are always allowed. */
  insecureRegistries: string[];
  /** Per-registry CA certificates: DIR/<host[:port]>/*.crt (default /etc/shoal/certs.d). */
  certsDir?: string;
  /** The node's host name (swarm node description, /info Name); unset: the machine's (os.hostname()). */
  hostname?: string;
  /** `--bridge NAME|none` (dockerd's -b): the default bridge's device; null = no default bridge. */
  bridge: string | null;
  /** `--bip CIDR`: the default bridge's address and subnet. */
  bip: string;
  /** `--ip-masq`: masquerade outbound traffic of bridge networks (default true). */
  ipMasq: boolean;
  /**
   * `--dns-forward`: the embedded resolver of user networks forwards names it does not know to the host's
   * nameservers (default true, as dockerd); false answers them NXDOMAIN (tests: nothing leaves the machine).
   */
  dnsForward: boolean;
  /**
   * `--executor engine|sim`: how this node's swarm tasks run. `engine` (default): as containers. `sim`: the
   * simulated executor (worker/executor/sim.ts), every state reported and no container made — for scale runs.
   */
  executor: 'engine' | 'sim';
  /** `--data-path-port`: the UDP port of swarm overlays' VXLAN traffic (default 4789, as docker's). */
  dataPathPort: number;
}

export const DEFAULT_CONFIG: DaemonConfig = {
  dataRoot: '/var/lib/shoal',
  execRoot: '/run/shoal',
  socketPath: '/run/shoal/shoald.sock',
  insecureRegistries: [],
  bridge: 'shoal0',
  bip: '172.17.0.1/16',
  ipMasq: true,
  dnsForward: true,
  executor: 'engine',
  dataPathPort: 4789,
};

export const DAEMON_USAGE = `Usage: shoald [OPTIONS]

The shoal daemon: runs containers and serves the Engine API on a unix socket.

Options:
      --data-root string   Root directory of persistent state (default "/var/lib/shoal")
      --exec-root string   Root directory for runtime state: pid file, monitors (default "/run/shoal")
  -H, --host string        Socket to listen on (default "unix:///run/shoal/shoald.sock")
      --insecure-registry host[:port]
                           Use plain HTTP for this registry (repeatable; loopback needs no flag)
      --certs-dir string   Per-registry CA certificates, DIR/<host[:port]>/*.crt (default "/etc/shoal/certs.d")
      --hostname string    This node's host name in the swarm (node ls, node.hostname constraints) and
                           in /info (an RFC 1123 host name; default: the machine's host name)
  -b, --bridge string      The default bridge network's device, or "none" for no default bridge
                           (default "shoal0")
      --bip string         The default bridge's address and subnet (default "172.17.0.1/16")
      --ip-masq            Masquerade outbound traffic of bridge networks (default true;
                           --ip-masq=false turns it off)
      --dns-forward        The embedded DNS resolver of user networks forwards unknown names to the
                           host's nameservers (default true; --dns-forward=false answers NXDOMAIN)
      --executor string    How swarm tasks run: "engine" (containers, default) or "sim" (simulated: every
                           task state reported, no container; for scale tests)
      --data-path-port int The UDP port of swarm overlay (VXLAN) traffic; the same on every node
                           (default 4789)
      --help               Print usage
`;

export type ParsedDaemonArgs =
  | { kind: 'run'; config: DaemonConfig }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/** `unix:///run/x.sock` or a plain absolute path → the path; anything else is an error message. */
export function parseHost(value: string): { path: string } | { error: string } {
  let path = value;
  if (value.startsWith('unix://')) path = value.slice('unix://'.length);
  else if (/^[a-z]+:\/\//.test(value))
    return { error: `unsupported host "${value}": only unix://PATH is supported` };
  if (!path.startsWith('/')) return { error: `invalid host "${value}": the socket path must be absolute` };
  return { path };
}

/**
 * Why NAME is not an RFC 1123 host name (dot-separated labels of 1-63 letters, digits and hyphens, no
 * hyphen at either end of a label, 253 characters at most), or undefined when it is one.
 */
export function hostnameError(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 253) return `is ${name.length} characters long (at most 253)`;
  for (const label of name.split('.')) {
    if (label === '') return 'has an empty label (two dots in a row, or a dot at either end)';
    if (label.length > 63) return `has a label of ${label.length} characters (at most 63)`;
    if (!/^[A-Za-z0-9-]+$/.test(label))
      return `has a label "${label}" with characters other than letters, digits and hyphens`;
    if (label.startsWith('-') || label.endsWith('-'))
      return `has a label "${label}" that starts or ends with a hyphen`;
  }
  return undefined;
}

/** Pure: argv (without node and script) → configuration. Accepts `--flag value` and `--flag=value`. */
export function parseDaemonArgs(argv: string[]): ParsedDaemonArgs {
  const config: DaemonConfig = { ...DEFAULT_CONFIG, insecureRegistries: [] };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      i++;
      return argv[i];
    };
    switch (arg) {
      case '--data-root':
      case '--exec-root': {
        const v = takeValue();
        if (!v) return { kind: 'error', message: `flag ${arg} needs a directory` };
        if (!v.startsWith('/'))
          return { kind: 'error', message: `${arg} must be an absolute path, got "${v}"` };
        if (arg === '--data-root') config.dataRoot = v;
        else config.execRoot = v;
        break;
      }
      case '-H':
      case '--host': {
        const v = takeValue();
        if (!v)
          return { kind: 'error', message: `flag ${arg} needs a value like unix:///run/shoal/shoald.sock` };
        const h = parseHost(v);
        if ('error' in h) return { kind: 'error', message: h.error };
        config.socketPath = h.path;
        break;
      }
      case '--insecure-registry': {
        const v = takeValue();
        if (!v) return { kind: 'error', message: 'flag --insecure-registry needs a host[:port]' };
        if (!/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(v))
          return { kind: 'error', message: `--insecure-registry: "${v}" is not a host[:port]` };
        config.insecureRegistries.push(v);
        break;
      }
      case '--certs-dir': {
        const v = takeValue();
        if (!v) return { kind: 'error', message: 'flag --certs-dir needs a directory' };
        if (!v.startsWith('/'))
          return { kind: 'error', message: `--certs-dir must be an absolute path, got "${v}"` };
        config.certsDir = v;
        break;
      }
      case '--hostname': {
        const v = takeValue();
        if (v === undefined) return { kind: 'error', message: 'flag --hostname needs a host name' };
        const why = hostnameError(v);
        if (why)
          return {
            kind: 'error',
            message: `--hostname: "${v}" is not a valid host name (RFC 1123): it ${why}`,
          };
        config.hostname = v;
        break;
      }
      case '-b':
      case '--bridge': {
        const v = takeValue();
        if (!v) return { kind: 'error', message: `flag ${arg} needs a device name or "none"` };
        if (v !== 'none' && !/^[A-Za-z0-9_.-]{1,15}$/.test(v))
          return {
            kind: 'error',
            message: `--bridge: "${v}" is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`,
          };
        config.bridge = v === 'none' ? null : v;
        break;
      }
      case '--bip': {
        const v = takeValue();
        const m = v ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v) : null;
        if (!v || !m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) < 8 || Number(m[5]) > 30)
          return {
            kind: 'error',
            message: `--bip: "${v ?? ''}" is not an IPv4 address with a prefix from 8 to 30 (like 172.17.0.1/16)`,
          };
        config.bip = v;
        break;
      }
      case '--ip-masq': {
        if (inline === undefined || inline === 'true') config.ipMasq = true;
        else if (inline === 'false') config.ipMasq = false;
        else return { kind: 'error', message: `--ip-masq: "${inline}" is not true or false` };
        break;
      }
      case '--dns-forward': {
        if (inline === undefined || inline === 'true') config.dnsForward = true;
        else if (inline === 'false') config.dnsForward = false;
        else return { kind: 'error', message: `--dns-forward: "${inline}" is not true or false` };
        break;
      }
      case '--executor': {
        const v = takeValue();
        if (v !== 'engine' && v !== 'sim')
          return { kind: 'error', message: `--executor: "${v ?? ''}" is not "engine" or "sim"` };
        config.executor = v;
        break;
      }
      case '--data-path-port': {
        const v = takeValue();
        const n = Number(v);
        if (!v || !/^\d{1,5}$/.test(v) || n < 1024 || n > 49151)
          return {
            kind: 'error',
            message: `--data-path-port: "${v ?? ''}" is not a port from 1024 to 49151`,
          };
        config.dataPathPort = n;
        break;
      }
      default:
        return { kind: 'error', message: `unknown flag: ${argv[i]}` };
    }
  }
  return { kind: 'run', config };
}
