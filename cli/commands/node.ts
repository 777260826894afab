// `shoal node ls|inspect|ps|update|rm|promote|demote`: docker's node commands over the Engine API.
import { ApiError } from '../client.js';
import { type Cli, UsageError } from '../context.js';
import type { FlagSpec } from '../flags.js';
import { parseCommand, runSubcommand } from './common.js';
import { inspectEach } from './inspect.js';
import { mergedFilters, printTasks, TASK_LIST_FLAGS } from './service.js';
import { prettyNode } from './service-pretty.js';
import { kvMap } from './service-values.js';
import {
  NODE_COLUMNS,
  NODE_HEADERS,
  type NodeJson,
  naturalLess,
  nodeRow,
  type ServiceJson,
  type TaskJson,
  writeList,
} from './swarm-format.js';

const SUBCOMMANDS: Record<string, (cli: Cli, args: string[]) => Promise<number>> = {
  ls,
  list: ls,
  inspect,
  ps,
  update,
  rm,
  remove: rm,
  promote: (cli, args) => setRole(cli, args, 'manager'),
  demote: (cli, args) => setRole(cli, args, 'worker'),
};

const USAGE = `
Usage:  shoal node COMMAND

Manage Swarm nodes

Commands:
  demote      Demote one or more nodes from manager in the swarm
  inspect     Display detailed information on one or more nodes
  ls          List nodes in the swarm
  promote     Promote one or more nodes to manager in the swarm
  ps          List tasks running on one or more nodes, defaults to current node
  rm          Remove one or more nodes from the swarm
  update      Update a node

Run 'shoal node COMMAND --help' for more information on a command.
`;

export function node(cli: Cli, args: string[]): Promise<number> {
  return runSubcommand(cli, args, 'node', USAGE, SUBCOMMANDS);
}

interface Info {
  Swarm?: { NodeID?: string; ControlAvailable?: boolean; LocalNodeState?: string };
}

async function selfId(cli: Cli): Promise<string> {
  const info = await cli.client.get<Info>('/info');
  if (!info.Swarm?.NodeID)
    throw new Error(
      'This node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again.',
    );
  return info.Swarm.NodeID;
}

/** "self" names the local node (GET /info), as docker resolves it. */
async function resolveRef(cli: Cli, ref: string): Promise<string> {
  return ref === 'self' ? selfId(cli) : ref;
}

async function ls(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'node ls',
      usage: 'shoal node ls [OPTIONS]',
      description: 'List nodes in the swarm',
      flags: [
        { long: 'filter', short: 'f', type: 'list', help: 'Filter output based on conditions provided' },
        { long: 'format', type: 'string', help: 'Format output using a custom template' },
        { long: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const filters = f.lists.has('filter') ? mergedFilters(cli, f, 'node ls', {}) : undefined;
  const nodes = await cli.client.get<NodeJson[]>('/nodes', { filters });
  if (f.bools.has('quiet')) {
    cli.out.write(nodes.map((n) => `${n.ID}\n`).join(''));
    return 0;
  }
  const info = await cli.client.get<Info>('/info');
  nodes.sort((a, b) => naturalLess(a.Description?.Hostname ?? '', b.Description?.Hostname ?? ''));
  return writeList(
    cli,
    f.strings.get('format'),
    NODE_HEADERS,
    NODE_COLUMNS,
    nodes.map((n) => nodeRow(n, info.Swarm?.NodeID)),
  );
}

async function inspect(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'node inspect',
      usage: 'shoal node inspect [OPTIONS] self|NODE [NODE...]',
      description: 'Display detailed information on one or more nodes',
      flags: [
        { long: 'format', short: 'f', type: 'string', help: 'Format output using a custom template' },
        { long: 'pretty', type: 'bool', help: 'Print the information in a human friendly format' },
      ],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  return inspectEach(cli, f.positionals, {
    fetch: async (ref) =>
      cli.client.get<NodeJson>(`/nodes/${encodeURIComponent(await resolveRef(cli, ref))}`),
    missing: (ref) => `No such node: ${ref}`,
    format: f.strings.get('format'),
    pretty: f.bools.has('pretty') ? prettyNode : undefined,
  });
}

async function ps(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'node ps',
      usage: 'shoal node ps [OPTIONS] [NODE...]',
      description: 'List tasks running on one or more nodes, defaults to current node',
      flags: TASK_LIST_FLAGS,
    },
    args,
  );
  if (!f) return 0;
  const refs = f.positionals.length ? f.positionals : ['self'];
  const ids: string[] = [];
  for (const ref of refs) {
    const n = await cli.client.get<NodeJson>(`/nodes/${encodeURIComponent(await resolveRef(cli, ref))}`);
    ids.push(n.ID);
  }
  const tasks = await cli.client.get<TaskJson[]>('/tasks', {
    filters: mergedFilters(cli, f, 'node ps', { node: ids }),
  });
  return printTasks(cli, tasks, f, new Map<string, ServiceJson>());
}

const UPDATE_FLAGS: FlagSpec[] = [
  { long: 'availability', type: 'string', help: 'Availability of the node ("active", "pause", "drain")' },
  { long: 'label-add', type: 'list', help: 'Add or update a node label (key=value)' },
  { long: 'label-rm', type: 'list', help: 'Remove a node label if exists' },
  { long: 'role', type: 'string', help: 'Role of the node ("worker", "manager")' },
];

/** GET the node for its version, change its Spec, POST update?version= with the whole Spec. */
async function changeNode(
  cli: Cli,
  ref: string,
  change: (spec: NodeJson['Spec']) => void,
): Promise<NodeJson> {
  const n = await cli.client.get<NodeJson>(`/nodes/${encodeURIComponent(await resolveRef(cli, ref))}`);
  const spec = { ...n.Spec, Labels: { ...(n.Spec.Labels ?? {}) } };
  change(spec);
  await cli.client.post(`/nodes/${n.ID}/update`, { version: n.Version.Index }, spec);
  return n;
}

async function update(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'node update',
      usage: 'shoal node update [OPTIONS] NODE',
      description: 'Update a node',
      flags: UPDATE_FLAGS,
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const availability = f.strings.get('availability');
  if (availability !== undefined && !['active', 'pause', 'drain'].includes(availability.toLowerCase()))
    throw UsageError.flag(
      `invalid argument "${availability}" for "--availability" flag: invalid availability: must be one of active, pause, drain`,
      'node update',
    );
  const role = f.strings.get('role');
  if (role !== undefined && !['worker', 'manager'].includes(role.toLowerCase()))
    throw UsageError.flag(
      `invalid argument "${role}" for "--role" flag: invalid role: must be one of worker, manager`,
      'node update',
    );
  let adds: Record<string, string>;
  try {
    adds = kvMap('--label-add', f.lists.get('label-add') ?? []);
  } catch (err) {
    throw new UsageError((err as Error).message, 'node update');
  }
  const ref = f.positionals[0];
  await changeNode(cli, ref, (spec) => {
    for (const k of f.lists.get('label-rm') ?? []) {
      if (!(k in (spec.Labels ?? {}))) throw new Error(`key ${k} doesn't exist in node's labels`);
      delete spec.Labels?.[k];
    }
    Object.assign(spec.Labels ?? {}, adds);
    if (availability !== undefined) spec.Availability = availability.toLowerCase();
    if (role !== undefined) spec.Role = role.toLowerCase();
  });
  cli.out.write(`${ref}\n`);
  return 0;
}

async function setRole(cli: Cli, args: string[], role: 'manager' | 'worker'): Promise<number> {
  const name = role === 'manager' ? 'node promote' : 'node demote';
  const f = parseCommand(
    cli,
    {
      name,
      usage: `shoal ${name} NODE [NODE...]`,
      description:
        role === 'manager'
          ? 'Promote one or more nodes to manager in the swarm'
          : 'Demote one or more nodes from manager in the swarm',
      flags: [],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  for (const ref of f.positionals) {
    let already = false;
    await changeNode(cli, ref, (spec) => {
      already = spec.Role === role;
      spec.Role = role;
    });
    if (role === 'manager')
      cli.out.write(
        already ? `Node ${ref} is already a manager.\n` : `Node ${ref} promoted to a manager in the swarm.\n`,
      );
    else
      cli.out.write(
        already ? `Node ${ref} is already a worker.\n` : `Manager ${ref} demoted in the swarm.\n`,
      );
  }
  return 0;
}

async function rm(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'node rm',
      usage: 'shoal node rm [OPTIONS] NODE [NODE...]',
      description: 'Remove one or more nodes from the swarm',
      flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Force remove a node from the swarm' }],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const errors: string[] = [];
  for (const ref of f.positionals) {
    try {
      await cli.client.call('DELETE', `/nodes/${encodeURIComponent(ref)}`, {
        query: { force: f.bools.has('force') ? '1' : undefined },
      });
      cli.out.write(`${ref}\n`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      errors.push(err.message);
    }
  }
  if (errors.length === 0) return 0;
  cli.err.write(`Error response from daemon: ${errors.join('\n')}\n`);
  return 1;
}
