// Network commands: `shoal network create|ls|inspect|rm|prune`, with the docker CLI's flags and output.
// Driver-agnostic: the body is what `docker network create` sends; the daemon decides by driver/scope
// (overlay → the swarm's networks, bridge → the node's own).
import { ApiError } from '../client.js';
import { type Cli, type CommandFn, UsageError } from '../context.js';
import { formatTable } from '../table.js';
import { renderTemplate } from '../template.js';
import { type CommandSpec, parseCommand } from './common.js';

interface NetworkJson {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
}

function keyValues(items: string[], flag: string, command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid argument "${item}" for "${flag}" flag: empty key`, command);
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function filtersJson(items: string[], command: string): string | undefined {
  const f: Record<string, Record<string, boolean>> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${item}`, command);
    const k = item.slice(0, eq);
    f[k] = { ...(f[k] ?? {}), [item.slice(eq + 1)]: true };
  }
  return Object.keys(f).length ? JSON.stringify(f) : undefined;
}

const daemonError = (cli: Cli, e: unknown): number => {
  if (!(e instanceof ApiError)) throw e;
  cli.err.write(`Error response from daemon: ${e.message}\n`);
  return 1;
};

const CREATE: CommandSpec = {
  name: 'network create',
  usage: 'shoal network create [OPTIONS] NETWORK',
  description: 'Create a network',
  flags: [
    { long: 'driver', short: 'd', type: 'string', help: 'Driver to manage the Network (default "bridge")' },
    { long: 'subnet', type: 'list', help: 'Subnet in CIDR format that represents a network segment' },
    { long: 'gateway', type: 'list', help: 'IPv4 or IPv6 Gateway for the master subnet' },
    { long: 'ip-range', type: 'list', help: 'Allocate container ip from a sub-range' },
    { long: 'attachable', type: 'bool', help: 'Enable manual container attachment' },
    { long: 'internal', type: 'bool', help: 'Restrict external access to the network' },
    { long: 'ingress', type: 'bool', help: 'Create swarm routing-mesh network' },
    { long: 'label', type: 'list', help: 'Set metadata on a network' },
    { long: 'opt', short: 'o', type: 'list', help: 'Set driver specific options' },
    { long: 'scope', type: 'string', help: "Control the network's scope" },
  ],
  minArgs: 1,
  maxArgs: 1,
};

/** --subnet/--gateway/--ip-range → IPAM configs: the n-th gateway and range go with the n-th subnet. */
function ipamConfigs(subnets: string[], gateways: string[], ranges: string[]): Record<string, string>[] {
  if (gateways.length > subnets.length || ranges.length > subnets.length)
    throw new UsageError('every --gateway and --ip-range needs a --subnet', 'network create');
  return subnets.map((s, i) => ({
    Subnet: s,
    ...(gateways[i] ? { Gateway: gateways[i] } : {}),
    ...(ranges[i] ? { IPRange: ranges[i] } : {}),
  }));
}

export const create: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, CREATE, args);
  if (!f) return 0;
  const body = {
    Name: f.positionals[0],
    Driver: f.strings.get('driver') ?? 'bridge',
    Scope: f.strings.get('scope') ?? '',
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: ipamConfigs(
        f.lists.get('subnet') ?? [],
        f.lists.get('gateway') ?? [],
        f.lists.get('ip-range') ?? [],
      ),
    },
    Internal: f.bools.has('internal'),
    Attachable: f.bools.has('attachable'),
    Ingress: f.bools.has('ingress'),
    Options: keyValues(f.lists.get('opt') ?? [], '-o, --opt', 'network create'),
    Labels: keyValues(f.lists.get('label') ?? [], '--label', 'network create'),
  };
  try {
    const r = await cli.client.post<{ Id: string }>('/networks/create', undefined, body);
    cli.out.write(`${r.Id}\n`);
    return 0;
  } catch (e) {
    return daemonError(cli, e);
  }
};

const LS: CommandSpec = {
  name: 'network ls',
  usage: 'shoal network ls [OPTIONS]',
  description: 'List networks',
  flags: [
    { long: 'quiet', short: 'q', type: 'bool', help: 'Only display network IDs' },
    { long: 'filter', short: 'f', type: 'list', help: "Provide filter values (e.g. 'driver=bridge')" },
    { long: 'format', type: 'string', help: 'Format output using a template' },
    { long: 'no-trunc', type: 'bool', help: 'Do not truncate the output' },
  ],
  maxArgs: 0,
};

export const ls: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LS, args);
  if (!f) return 0;
  const nets = await cli.client.get<NetworkJson[]>('/networks', {
    filters: filtersJson(f.lists.get('filter') ?? [], 'network ls'),
  });
  const sorted = [...nets].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  const id = (n: NetworkJson) => (f.bools.has('no-trunc') ? n.Id : n.Id.slice(0, 12));
  const format = f.strings.get('format');
  if (f.bools.has('quiet')) cli.out.write(sorted.map((n) => `${id(n)}\n`).join(''));
  else if (format)
    cli.out.write(sorted.map((n) => `${renderTemplate(format, { ...n, ID: id(n) })}\n`).join(''));
  else
    cli.out.write(
      formatTable([
        ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
        ...sorted.map((n) => [id(n), n.Name, n.Driver, n.Scope]),
      ]),
    );
  return 0;
};

const INSPECT: CommandSpec = {
  name: 'network inspect',
  usage: 'shoal network inspect [OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  flags: [{ long: 'format', short: 'f', type: 'string', help: 'Format output using a template' }],
  minArgs: 1,
};

export const inspect: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, INSPECT, args);
  if (!f) return 0;
  const found: unknown[] = [];
  let status = 0;
  for (const name of f.positionals) {
    try {
      found.push(await cli.client.get(`/networks/${encodeURIComponent(name)}`));
    } catch (e) {
      status = daemonError(cli, e);
    }
  }
  const format = f.strings.get('format');
  if (format) for (const n of found) cli.out.write(`${renderTemplate(format, n)}\n`);
  else cli.out.write(`${JSON.stringify(found, null, 4)}\n`);
  return status;
};

const RM: CommandSpec = {
  name: 'network rm',
  usage: 'shoal network rm NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  flags: [],
  minArgs: 1,
};

export const rm: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, RM, args);
  if (!f) return 0;
  let status = 0;
  for (const name of f.positionals) {
    try {
      await cli.client.call('DELETE', `/networks/${encodeURIComponent(name)}`);
      cli.out.write(`${name}\n`);
    } catch (e) {
      status = daemonError(cli, e);
    }
  }
  return status;
};

const PRUNE: CommandSpec = {
  name: 'network prune',
  usage: 'shoal network prune [OPTIONS]',
  description: 'Remove all unused networks',
  flags: [
    { long: 'filter', type: 'list', help: "Provide filter values (e.g. 'until=<timestamp>')" },
    { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
};

export const prune: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PRUNE, args);
  if (!f) return 0;
  if (!f.bools.has('force') && cli.stdin.isTTY) {
    cli.out.write(
      'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ',
    );
    const answer = await new Promise<string>((res) => cli.stdin.once('data', (d) => res(String(d))));
    cli.stdin.pause();
    if (!/^y(es)?$/i.test(answer.trim())) return 0;
  }
  const r = await cli.client.post<{ NetworksDeleted: string[] | null }>('/networks/prune', {
    filters: filtersJson(f.lists.get('filter') ?? [], 'network prune'),
  });
  if (r.NetworksDeleted?.length)
    cli.out.write(`Deleted Networks:\n${r.NetworksDeleted.map((n) => `${n}\n`).join('')}`);
  return 0;
};

const SUBCOMMANDS: Record<string, CommandFn> = { create, ls, list: ls, inspect, rm, remove: rm, prune };

/** `shoal network SUBCOMMAND …` */
export const network: CommandFn = async (cli, args) => {
  const sub = args[0];
  const fn = sub ? SUBCOMMANDS[sub] : undefined;
  if (sub && !fn && sub !== '--help') {
    cli.err.write(`shoal network: '${sub}' is not a shoal network command.\nSee 'shoal network --help'.\n`);
    return 1;
  }
  if (!fn) {
    cli.out.write(
      '\nUsage:  shoal network COMMAND\n\nManage networks\n\nCommands:\n  create\n  inspect\n  ls\n  prune\n  rm\n',
    );
    return 0;
  }
  return fn(cli, args.slice(1));
};
