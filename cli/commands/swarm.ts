// `shoal swarm init|join|join-token|leave|update|inspect|ca`: docker's swarm commands over the Engine API.
import { readFileSync } from 'node:fs';
import { type Cli, UsageError } from '../context.js';
import { FlagError, type FlagSpec, type ParsedFlags } from '../flags.js';
import { parseCommand, runSubcommand } from './common.js';
import { durationValue, uintValue } from './service-values.js';
import type { NodeJson } from './swarm-format.js';

type Json = Record<string, unknown>;

const SUBCOMMANDS: Record<string, (cli: Cli, args: string[]) => Promise<number>> = {
  init,
  join,
  'join-token': joinToken,
  leave,
  update,
  inspect,
  ca,
};

const USAGE = `
Usage:  shoal swarm COMMAND

Manage Swarm

Commands:
  ca          Display and rotate the root CA
  init        Initialize a swarm
  inspect     Display the swarm's details (GET /swarm)
  join        Join a swarm as a node and/or manager
  join-token  Manage join tokens
  leave       Leave the swarm
  update      Update the swarm

Run 'shoal swarm COMMAND --help' for more information on a command.
`;

export function swarm(cli: Cli, args: string[]): Promise<number> {
  return runSubcommand(cli, args, 'swarm', USAGE, SUBCOMMANDS);
}

const DEFAULT_PORT = 2377;

/** "0.0.0.0", ":2377", "eth0:4000" → ADDR:PORT with docker's default port. */
export function withPort(flag: string, text: string): string {
  if (text === '') throw new FlagError(`invalid argument "" for "${flag}" flag: empty address`);
  const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(text);
  if (!m) throw new FlagError(`invalid argument "${text}" for "${flag}" flag: invalid address`);
  const port = m[2] ?? String(DEFAULT_PORT);
  if (Number(port) < 1 || Number(port) > 65535)
    throw new FlagError(`invalid argument "${text}" for "${flag}" flag: invalid port ${port}`);
  return `${m[1] || '0.0.0.0'}:${port}`;
}

const SPEC_FLAGS: FlagSpec[] = [
  {
    long: 'task-history-limit',
    type: 'string',
    value: 'int',
    help: 'Task history retention limit (default 5)',
  },
  {
    long: 'dispatcher-heartbeat',
    type: 'string',
    value: 'duration',
    help: 'Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)',
  },
  {
    long: 'cert-expiry',
    type: 'string',
    value: 'duration',
    help: 'Validity period for node certificates (ns|us|ms|s|m|h)',
  },
  {
    long: 'snapshot-interval',
    type: 'string',
    value: 'uint',
    help: 'Number of log entries between Raft snapshots',
  },
  {
    long: 'max-snapshots',
    type: 'string',
    value: 'uint',
    help: 'Number of additional Raft snapshots to retain',
  },
  { long: 'autolock', type: 'bool', help: 'Enable manager autolocking (not supported by shoal)' },
];

/** The swarm-spec flags applied onto a Spec (docker's swarmOptions.mergeSwarmSpec). */
function mergeSpec(spec: Json, f: ParsedFlags): void {
  const sub = (k: string): Json => {
    if (!spec[k]) spec[k] = {};
    return spec[k] as Json;
  };
  const limit = f.strings.get('task-history-limit');
  if (limit !== undefined) {
    if (!/^-?\d+$/.test(limit))
      throw new FlagError(
        `invalid argument "${limit}" for "--task-history-limit" flag: strconv.ParseInt: parsing "${limit}": invalid syntax`,
      );
    sub('Orchestration').TaskHistoryRetentionLimit = Number(limit);
  }
  const hb = f.strings.get('dispatcher-heartbeat');
  if (hb !== undefined) sub('Dispatcher').HeartbeatPeriod = durationValue('--dispatcher-heartbeat', hb);
  const expiry = f.strings.get('cert-expiry');
  if (expiry !== undefined) sub('CAConfig').NodeCertExpiry = durationValue('--cert-expiry', expiry);
  const snap = f.strings.get('snapshot-interval');
  if (snap !== undefined) sub('Raft').SnapshotInterval = uintValue('--snapshot-interval', snap);
  const keep = f.strings.get('max-snapshots');
  if (keep !== undefined) sub('Raft').KeepOldSnapshots = uintValue('--max-snapshots', keep);
  if (f.bools.has('autolock') || f.falses.has('autolock'))
    sub('EncryptionConfig').AutoLockManagers = f.bools.has('autolock');
}

function usageErrors<T>(command: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FlagError) throw UsageError.flag(err.message, command);
    throw err;
  }
}

async function init(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm init',
      usage: 'shoal swarm init [OPTIONS]',
      description: 'Initialize a swarm',
      flags: [
        {
          long: 'advertise-addr',
          type: 'string',
          help: 'Advertised address (format: "<ip|interface>[:port]")',
        },
        {
          long: 'listen-addr',
          type: 'string',
          value: 'node-addr',
          help: 'Listen address (format: "<ip|interface>[:port]") (default 0.0.0.0:2377)',
        },
        { long: 'data-path-addr', type: 'string', help: 'Address or interface to use for data path traffic' },
        { long: 'force-new-cluster', type: 'bool', help: 'Force create a new cluster from current state' },
        {
          long: 'availability',
          type: 'string',
          help: 'Availability of the node ("active", "pause", "drain")',
        },
        {
          long: 'default-addr-pool',
          type: 'list',
          value: 'ipNetSlice',
          help: 'default address pool in CIDR format (default [])',
        },
        {
          long: 'default-addr-pool-mask-length',
          type: 'string',
          value: 'uint32',
          help: 'default address pool subnet mask length (default 24)',
        },
        ...SPEC_FLAGS,
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const body = usageErrors('swarm init', () => {
    const spec: Json = {
      Labels: null,
      Orchestration: {},
      Raft: { ElectionTick: 0, HeartbeatTick: 0 },
      Dispatcher: {},
      CAConfig: {},
      TaskDefaults: {},
      EncryptionConfig: { AutoLockManagers: false },
    };
    mergeSpec(spec, f);
    const adv = f.strings.get('advertise-addr');
    return {
      ListenAddr: withPort('--listen-addr', f.strings.get('listen-addr') ?? '0.0.0.0:2377'),
      AdvertiseAddr: adv ?? '',
      DataPathAddr: f.strings.get('data-path-addr') ?? '',
      DataPathPort: 0,
      ForceNewCluster: f.bools.has('force-new-cluster'),
      Spec: spec,
      AutoLockManagers: f.bools.has('autolock'),
      Availability: availabilityOf(f),
      DefaultAddrPool: (f.lists.get('default-addr-pool') ?? []).flatMap((v) => v.split(',')),
      SubnetSize: maskLength(f.strings.get('default-addr-pool-mask-length')),
    };
  });
  const nodeId = await cli.client.post<string>('/swarm/init', undefined, body);
  cli.out.write(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
  await printJoinCommand(cli, 'worker', false);
  cli.out.write(
    "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n\n",
  );
  return 0;
}

function maskLength(v: string | undefined): number {
  if (v === undefined) return 24;
  if (!/^\d+$/.test(v) || Number(v) > 2 ** 32 - 1)
    throw new FlagError(`invalid argument "${v}" for "--default-addr-pool-mask-length" flag: invalid syntax`);
  return Number(v);
}

function availabilityOf(f: ParsedFlags): string {
  const a = f.strings.get('availability');
  if (a === undefined) return '';
  if (!['active', 'pause', 'drain'].includes(a.toLowerCase()))
    throw new FlagError(
      `invalid argument "${a}" for "--availability" flag: invalid availability: must be one of active, pause, drain`,
    );
  return a.toLowerCase();
}

async function join(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm join',
      usage: 'shoal swarm join [OPTIONS] HOST:PORT',
      description: 'Join a swarm as a node and/or manager',
      flags: [
        { long: 'token', type: 'string', help: 'Token for entry into the swarm' },
        {
          long: 'advertise-addr',
          type: 'string',
          help: 'Advertised address (format: "<ip|interface>[:port]")',
        },
        {
          long: 'listen-addr',
          type: 'string',
          value: 'node-addr',
          help: 'Listen address (default 0.0.0.0:2377)',
        },
        { long: 'data-path-addr', type: 'string', help: 'Address or interface to use for data path traffic' },
        {
          long: 'availability',
          type: 'string',
          help: 'Availability of the node ("active", "pause", "drain")',
        },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const body = usageErrors('swarm join', () => ({
    ListenAddr: withPort('--listen-addr', f.strings.get('listen-addr') ?? '0.0.0.0:2377'),
    AdvertiseAddr: f.strings.get('advertise-addr') ?? '',
    DataPathAddr: f.strings.get('data-path-addr') ?? '',
    RemoteAddrs: [f.positionals[0]],
    JoinToken: f.strings.get('token') ?? '',
    Availability: availabilityOf(f),
  }));
  await cli.client.post('/swarm/join', undefined, body);
  const info = await cli.client.get<{ Swarm?: { ControlAvailable?: boolean } }>('/info');
  cli.out.write(
    info.Swarm?.ControlAvailable
      ? 'This node joined a swarm as a manager.\n'
      : 'This node joined a swarm as a worker.\n',
  );
  return 0;
}

interface SwarmJson {
  ID: string;
  Version: { Index: number };
  Spec: Json;
  JoinTokens: { Worker: string; Manager: string };
  TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string };
  RootRotationInProgress?: boolean;
}

/** docker's text: the join command with this manager's address (GET /swarm, /info, /nodes/{self}). */
async function printJoinCommand(cli: Cli, role: 'worker' | 'manager', quiet: boolean): Promise<void> {
  const sw = await cli.client.get<SwarmJson>('/swarm');
  const token = role === 'worker' ? sw.JoinTokens.Worker : sw.JoinTokens.Manager;
  if (quiet) {
    cli.out.write(`${token}\n`);
    return;
  }
  const info = await cli.client.get<{ Swarm?: { NodeID?: string } }>('/info');
  const self = await cli.client.get<NodeJson>(`/nodes/${info.Swarm?.NodeID ?? ''}`);
  cli.out.write(
    `To add a ${role} to this swarm, run the following command:\n\n    shoal swarm join --token ${token} ${self.ManagerStatus?.Addr ?? ''}\n\n`,
  );
}

async function joinToken(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm join-token',
      usage: 'shoal swarm join-token [OPTIONS] (worker|manager)',
      description: 'Manage join tokens',
      flags: [
        { long: 'quiet', short: 'q', type: 'bool', help: 'Only display token' },
        { long: 'rotate', type: 'bool', help: 'Rotate join token' },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const role = f.positionals[0];
  if (role !== 'worker' && role !== 'manager')
    throw new UsageError('unknown role ' + role, 'swarm join-token');
  if (f.bools.has('rotate')) {
    const sw = await cli.client.get<SwarmJson>('/swarm');
    await cli.client.post(
      '/swarm/update',
      {
        version: sw.Version.Index,
        rotateWorkerToken: String(role === 'worker'),
        rotateManagerToken: String(role === 'manager'),
        rotateManagerUnlockKey: 'false',
      },
      sw.Spec,
    );
    if (!f.bools.has('quiet')) cli.out.write(`Successfully rotated ${role} join token.\n\n`);
  }
  await printJoinCommand(cli, role, f.bools.has('quiet'));
  return 0;
}

async function leave(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm leave',
      usage: 'shoal swarm leave [OPTIONS]',
      description: 'Leave the swarm',
      flags: [
        {
          long: 'force',
          short: 'f',
          type: 'bool',
          help: 'Force this node to leave the swarm, ignoring warnings',
        },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  await cli.client.post('/swarm/leave', { force: f.bools.has('force') ? '1' : undefined });
  cli.out.write('Node left the swarm.\n');
  return 0;
}

async function update(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm update',
      usage: 'shoal swarm update [OPTIONS]',
      description: 'Update the swarm',
      flags: SPEC_FLAGS,
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const sw = await cli.client.get<SwarmJson>('/swarm');
  const spec = structuredClone(sw.Spec);
  usageErrors('swarm update', () => mergeSpec(spec, f));
  await cli.client.post(
    '/swarm/update',
    {
      version: sw.Version.Index,
      rotateWorkerToken: 'false',
      rotateManagerToken: 'false',
      rotateManagerUnlockKey: 'false',
    },
    spec,
  );
  cli.out.write('Swarm updated.\n');
  return 0;
}

async function inspect(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm inspect',
      usage: 'shoal swarm inspect',
      description: "Display the swarm's details (GET /swarm; docker 28 has no such command)",
      flags: [],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  cli.out.write(`${JSON.stringify([await cli.client.get('/swarm')], null, 4)}\n`);
  return 0;
}

/**
 * `swarm ca`: the root CA certificate; `--rotate` asks for a new root (CAConfig.ForceRotate + 1, or the
 * operator's with --ca-cert/--ca-key) and, unless --detach, follows the rotation until every node has
 * moved, as docker's progress does (nodes whose certificate the new root issued, nodes trusting it alone).
 */
async function ca(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'swarm ca',
      usage: 'shoal swarm ca [OPTIONS]',
      description: 'Display and rotate the root CA',
      flags: [
        {
          long: 'rotate',
          type: 'bool',
          help: 'Rotate the swarm CA - if no certificate or key are provided, new ones will be generated',
        },
        {
          long: 'ca-cert',
          type: 'string',
          help: 'Path to the PEM-formatted root CA certificate to use for the new cluster',
        },
        {
          long: 'ca-key',
          type: 'string',
          help: 'Path to the PEM-formatted root CA key to use for the new cluster',
        },
        {
          long: 'cert-expiry',
          type: 'string',
          value: 'duration',
          help: 'Validity period for node certificates (ns|us|ms|s|m|h)',
        },
        {
          long: 'detach',
          short: 'd',
          type: 'bool',
          help: 'Exit immediately instead of waiting for the root rotation to converge',
        },
        { long: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output' },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const rotate = f.bools.has('rotate');
  const certFile = f.strings.get('ca-cert');
  const keyFile = f.strings.get('ca-key');
  const expiry = f.strings.get('cert-expiry');
  if (!rotate && (certFile !== undefined || keyFile !== undefined || expiry !== undefined))
    throw new UsageError(
      '`--rotate` flag is required to specify --ca-cert, --ca-key or --cert-expiry',
      'swarm ca',
    );
  if (rotate && keyFile !== undefined && certFile === undefined)
    throw new UsageError('the --ca-key flag requires that a --ca-cert flag also be provided', 'swarm ca');
  if (rotate && certFile !== undefined && keyFile === undefined)
    throw new UsageError('the --ca-cert flag requires that a --ca-key flag also be provided', 'swarm ca');
  if (!rotate) {
    const sw = await cli.client.get<SwarmJson>('/swarm');
    cli.out.write(sw.TLSInfo?.TrustRoot ?? '');
    return 0;
  }
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`, 'swarm ca');
    }
  };
  const sw = await cli.client.get<SwarmJson>('/swarm');
  const spec = structuredClone(sw.Spec);
  const caConfig = (spec.CAConfig ?? {}) as Json;
  spec.CAConfig = caConfig;
  caConfig.ForceRotate = Number(caConfig.ForceRotate ?? 0) + 1;
  if (certFile !== undefined) {
    caConfig.SigningCACert = read('--ca-cert', certFile);
    caConfig.SigningCAKey = read('--ca-key', keyFile as string);
  }
  if (expiry !== undefined)
    caConfig.NodeCertExpiry = usageErrors('swarm ca', () => durationValue('--cert-expiry', expiry));
  await cli.client.post(
    '/swarm/update',
    {
      version: sw.Version.Index,
      rotateWorkerToken: 'false',
      rotateManagerToken: 'false',
      rotateManagerUnlockKey: 'false',
    },
    spec,
  );
  if (f.bools.has('detach')) {
    if (!f.bools.has('quiet'))
      cli.err.write('Root CA rotation started; `shoal swarm ca` shows the root once it has completed.\n');
    return 0;
  }
  let last = '';
  for (;;) {
    const now = await cli.client.get<SwarmJson>('/swarm');
    const nodes = await cli.client.get<NodeJson[]>('/nodes');
    const tls = (n: NodeJson) =>
      (n as { Description?: { TLSInfo?: SwarmJson['TLSInfo'] } }).Description?.TLSInfo;
    const issued = nodes.filter(
      (n) => tls(n)?.CertIssuerPublicKey === now.TLSInfo?.CertIssuerPublicKey,
    ).length;
    const trusting = nodes.filter((n) => tls(n)?.TrustRoot === now.TLSInfo?.TrustRoot).length;
    const line = `rotated TLS certificates: ${issued}/${nodes.length} nodes; rotated CA certificates: ${trusting}/${nodes.length} nodes\n`;
    if (line !== last && !f.bools.has('quiet')) cli.err.write(line);
    last = line;
    if (!now.RootRotationInProgress && issued === nodes.length && trusting === nodes.length) {
      cli.out.write(now.TLSInfo?.TrustRoot ?? '');
      return 0;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
