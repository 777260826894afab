// Network commands: `shoal network create|ls|inspect|rm|prune|connect|disconnect` and `shoal port`,
// with the docker CLI's flags and output.
import { ApiError } from '../client.js';
import { type CommandFn, UsageError } from '../context.js';
import { formatTable } from '../table.js';
import { renderTemplate } from '../template.js';
import { type CommandSpec, confirm, daemonError, filtersJson, keyValues, parseCommand } from './common.js';

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
}

const CREATE: CommandSpec = {
  name: 'network create',
  usage: 'shoal network create [OPTIONS] NETWORK',
  description: 'Create a network',
  flags: [
    { long: 'driver', short: 'd', type: 'string', help: 'Driver to manage the Network (default "bridge")' },
    { long: 'subnet', type: 'list', help: 'Subnet in CIDR format that represents a network segment' },
    { long: 'gateway', type: 'list', help: 'IPv4 Gateway for the master subnet' },
    { long: 'ip-range', type: 'list', help: 'Allocate container ip from a sub-range' },
    { long: 'internal', type: 'bool', help: 'Restrict external access to the network' },
    { long: 'attachable', type: 'bool', help: 'Enable manual container attachment' },
    { long: 'ingress', type: 'bool', help: 'Create swarm routing-mesh network' },
    { long: 'scope', type: 'string', help: "Control the network's scope" },
    { long: 'label', type: 'list', help: 'Set metadata on a network' },
    { long: 'opt', short: 'o', type: 'list', help: 'Set driver specific options' },
  ],
  minArgs: 1,
  maxArgs: 1,
};

/** --subnet/--gateway/--ip-range → IPAM configs: the n-th gateway and range go with the n-th subnet. */
function ipamConfigs(subnets: string[], gateways: string[], ranges: string[]): Record<string, string>[] {
  if (gateways.length > subnets.length || ranges.length > subnets.length)
    throw new UsageError('every ip-range or gateway must have a corresponding subnet', 'network create');
  return subnets.map((s, i) => ({
    Subnet: s,
    ...(gateways[i] ? { Gateway: gateways[i] } : {}),
    ...(ranges[i] ? { IPRange: ranges[i] } : {}),
  }));
}

export const create: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, CREATE, args);
  if (!f) return 0;
  const config = ipamConfigs(
    f.lists.get('subnet') ?? [],
    f.lists.get('gateway') ?? [],
    f.lists.get('ip-range') ?? [],
  );
  try {
    const r = await cli.client.post<{ Id: string }>('/networks/create', undefined, {
      Name: f.positionals[0],
      Driver: f.strings.get('driver') ?? 'bridge',
      Scope: f.strings.get('scope') ?? '',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: {}, Config: config },
      Internal: f.bools.has('internal'),
      Attachable: f.bools.has('attachable'),
      Ingress: f.bools.has('ingress'),
      ConfigOnly: false,
      ConfigFrom: { Network: '' },
      Options: keyValues(f.lists.get('opt') ?? [], '-o, --opt', 'network create'),
      Labels: keyValues(f.lists.get('label') ?? [], '--label', 'network create'),
      CheckDuplicate: true,
    });
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
  nets.sort((a, b) => a.Name.localeCompare(b.Name));
  const id = (n: NetworkJson) => (f.bools.has('no-trunc') ? n.Id : n.Id.slice(0, 12));
  const format = f.strings.get('format');
  if (f.bools.has('quiet')) cli.out.write(nets.map((n) => `${id(n)}\n`).join(''));
  else if (format) cli.out.write(nets.map((n) => `${renderTemplate(format, n)}\n`).join(''));
  else
    cli.out.write(
      formatTable([
        ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
        ...nets.map((n) => [id(n), n.Name, n.Driver, n.Scope]),
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
  if (format) for (const v of found) cli.out.write(`${renderTemplate(format, v)}\n`);
  else cli.out.write(`${JSON.stringify(found, null, 4)}\n`);
  return status;
};

const RM: CommandSpec = {
  name: 'network rm',
  usage: 'shoal network rm NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Do not error if the network does not exist' }],
  minArgs: 1,
};

export const rm: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, RM, args);
  if (!f) return 0;
  let status = 0;
  for (const name of f.positionals) {
    try {
      await cli.client.call('DELETE', `/networks/${encodeURIComponent(name)}`, {});
      cli.out.write(`${name}\n`);
    } catch (e) {
      if (f.bools.has('force') && e instanceof ApiError && e.status === 404) continue;
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
    { long: 'filter', type: 'list', help: "Provide filter values (e.g. 'label=<key>=<value>')" },
    { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
};

export const prune: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PRUNE, args);
  if (!f) return 0;
  if (
    !f.bools.has('force') &&
    !(await confirm(cli, 'This will remove all custom networks not used by at least one container.'))
  )
    return 0;
  const r = await cli.client.post<{ NetworksDeleted: string[] | null }>('/networks/prune', {
    filters: filtersJson(f.lists.get('filter') ?? [], 'network prune'),
  });
  if (r.NetworksDeleted?.length)
    cli.out.write(`Deleted Networks:\n${r.NetworksDeleted.map((n) => `${n}\n`).join('')}`);
  return 0;
};

const CONNECT: CommandSpec = {
  name: 'network connect',
  usage: 'shoal network connect [OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  flags: [
    { long: 'alias', type: 'list', help: 'Add network-scoped alias for the container' },
    { long: 'ip', type: 'string', help: 'IPv4 address (e.g., "172.30.100.104")' },
  ],
  minArgs: 2,
  maxArgs: 2,
};

export const connect: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, CONNECT, args);
  if (!f) return 0;
  const [net, container] = f.positionals;
  const aliases = f.lists.get('alias') ?? [];
  const ip = f.strings.get('ip');
  try {
    await cli.client.post(`/networks/${encodeURIComponent(net)}/connect`, undefined, {
      Container: container,
      EndpointConfig: {
        Aliases: aliases.length ? aliases : null,
        ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}),
      },
    });
    return 0;
  } catch (e) {
    return daemonError(cli, e);
  }
};

const DISCONNECT: CommandSpec = {
  name: 'network disconnect',
  usage: 'shoal network disconnect [OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  flags: [
    { long: 'force', short: 'f', type: 'bool', help: 'Force the container to disconnect from a network' },
  ],
  minArgs: 2,
  maxArgs: 2,
};

export const disconnect: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, DISCONNECT, args);
  if (!f) return 0;
  const [net, container] = f.positionals;
  try {
    await cli.client.post(`/networks/${encodeURIComponent(net)}/disconnect`, undefined, {
      Container: container,
      Force: f.bools.has('force'),
    });
    return 0;
  } catch (e) {
    return daemonError(cli, e);
  }
};

const SUBCOMMANDS: Record<string, CommandFn> = {
  create,
  ls,
  list: ls,
  inspect,
  rm,
  remove: rm,
  prune,
  connect,
  disconnect,
};

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
      '\nUsage:  shoal network COMMAND\n\nManage networks\n\nCommands:\n  connect\n  create\n  disconnect\n  inspect\n  ls\n  prune\n  rm\n',
    );
    return 0;
  }
  return fn(cli, args.slice(1));
};

const PORT: CommandSpec = {
  name: 'port',
  usage: 'shoal port CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  flags: [],
  minArgs: 1,
  maxArgs: 2,
};

/** `shoal port CONTAINER [PORT[/PROTO]]`, from NetworkSettings.Ports as docker port prints it. */
export const port: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PORT, args);
  if (!f) return 0;
  const [ref, want] = f.positionals;
  let c: { NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> } };
  try {
    c = await cli.client.get(`/containers/${encodeURIComponent(ref)}/json`);
  } catch (e) {
    return daemonError(cli, e);
  }
  const ports = c.NetworkSettings?.Ports ?? {};
  const key = want ? (want.includes('/') ? want : `${want}/tcp`) : undefined;
  if (key) {
    const list = ports[key];
    if (!list?.length) {
      cli.err.write(`Error: No public port '${key}' published for ${ref}\n`);
      return 1;
    }
    for (const b of list) cli.out.write(`${b.HostIp}:${b.HostPort}\n`);
    return 0;
  }
  for (const [k, list] of Object.entries(ports))
    for (const b of list ?? []) cli.out.write(`${k} -> ${b.HostIp}:${b.HostPort}\n`);
  return 0;
};
