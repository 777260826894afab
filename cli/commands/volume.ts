// Volume commands: `shoal volume create|ls|inspect|rm|prune`, with the docker CLI's flags and output.
import { ApiError } from '../client.js';
import { type CommandFn, UsageError } from '../context.js';
import { formatTable } from '../table.js';
import { renderTemplate } from '../template.js';
import { humanSize } from '../units.js';
import { type CommandSpec, confirm, daemonError, filtersJson, keyValues, parseCommand } from './common.js';

interface VolumeJson {
  Name: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
}

/** `k=v` items → a map (`k` alone is an empty value), as the docker CLI's --label and --opt. */
const CREATE: CommandSpec = {
  name: 'volume create',
  usage: 'shoal volume create [OPTIONS] [VOLUME]',
  description: 'Create a volume',
  flags: [
    { long: 'driver', short: 'd', type: 'string', help: 'Specify volume driver name (default "local")' },
    { long: 'label', type: 'list', help: 'Set metadata for a volume' },
    { long: 'opt', short: 'o', type: 'list', help: 'Set driver specific options' },
    { long: 'name', type: 'string', help: 'Specify volume name' },
  ],
  maxArgs: 1,
};

export const create: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, CREATE, args);
  if (!f) return 0;
  const flagName = f.strings.get('name');
  const name = f.positionals[0] ?? flagName ?? '';
  if (flagName !== undefined && f.positionals[0] !== undefined && flagName !== f.positionals[0])
    throw new UsageError(
      `conflicting options: either specify --name or provide positional arg, not both`,
      'volume create',
    );
  try {
    const v = await cli.client.post<VolumeJson>('/volumes/create', undefined, {
      Name: name,
      Driver: f.strings.get('driver') ?? 'local',
      DriverOpts: keyValues(f.lists.get('opt') ?? [], '-o, --opt', 'volume create'),
      Labels: keyValues(f.lists.get('label') ?? [], '--label', 'volume create'),
    });
    cli.out.write(`${v.Name}\n`);
    return 0;
  } catch (e) {
    return daemonError(cli, e);
  }
};

const LS: CommandSpec = {
  name: 'volume ls',
  usage: 'shoal volume ls [OPTIONS]',
  description: 'List volumes',
  flags: [
    { long: 'quiet', short: 'q', type: 'bool', help: 'Only display volume names' },
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      help: "Provide filter values (e.g. 'dangling=true', 'label=k=v', 'name=x', 'driver=local')",
    },
    { long: 'format', type: 'string', help: 'Format output using a template ({{.Name}})' },
  ],
  maxArgs: 0,
};

export const ls: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LS, args);
  if (!f) return 0;
  const r = await cli.client.get<{ Volumes: VolumeJson[] | null }>('/volumes', {
    filters: filtersJson(f.lists.get('filter') ?? [], 'volume ls'),
  });
  const vols = r.Volumes ?? [];
  const format = f.strings.get('format');
  if (f.bools.has('quiet')) cli.out.write(vols.map((v) => `${v.Name}\n`).join(''));
  else if (format) cli.out.write(vols.map((v) => `${renderTemplate(format, v)}\n`).join(''));
  else cli.out.write(formatTable([['DRIVER', 'VOLUME NAME'], ...vols.map((v) => [v.Driver, v.Name])]));
  return 0;
};

const INSPECT: CommandSpec = {
  name: 'volume inspect',
  usage: 'shoal volume inspect [OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
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
      found.push(await cli.client.get(`/volumes/${encodeURIComponent(name)}`));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      cli.err.write(`Error response from daemon: ${e.message}\n`);
      status = 1;
    }
  }
  const format = f.strings.get('format');
  if (format) for (const v of found) cli.out.write(`${renderTemplate(format, v)}\n`);
  else cli.out.write(`${JSON.stringify(found, null, 4)}\n`);
  return status;
};

const RM: CommandSpec = {
  name: 'volume rm',
  usage: 'shoal volume rm [OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes. You cannot remove a volume that is in use by a container.',
  flags: [{ long: 'force', short: 'f', type: 'bool', help: 'Do not fail when a volume does not exist' }],
  minArgs: 1,
};

export const rm: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, RM, args);
  if (!f) return 0;
  let status = 0;
  for (const name of f.positionals) {
    try {
      await cli.client.call('DELETE', `/volumes/${encodeURIComponent(name)}`, {
        query: { force: f.bools.has('force') },
      });
      cli.out.write(`${name}\n`);
    } catch (e) {
      status = daemonError(cli, e);
    }
  }
  return status;
};

const PRUNE: CommandSpec = {
  name: 'volume prune',
  usage: 'shoal volume prune [OPTIONS]',
  description: 'Remove all unused local volumes',
  flags: [
    { long: 'filter', type: 'list', help: "Provide filter values (e.g. 'label=<label>')" },
    { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
};

export const prune: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PRUNE, args);
  if (!f) return 0;
  if (
    !f.bools.has('force') &&
    !(await confirm(cli, 'This will remove all local volumes not used by at least one container.'))
  )
    return 0;
  const r = await cli.client.post<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
    '/volumes/prune',
    {
      filters: filtersJson(f.lists.get('filter') ?? [], 'volume prune'),
    },
  );
  if (r.VolumesDeleted?.length)
    cli.out.write(`Deleted Volumes:\n${r.VolumesDeleted.map((n) => `${n}\n`).join('')}\n`);
  cli.out.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  return 0;
};

const SUBCOMMANDS: Record<string, CommandFn> = { create, ls, list: ls, inspect, rm, remove: rm, prune };

/** `shoal volume SUBCOMMAND …` */
export const volume: CommandFn = async (cli, args) => {
  const sub = args[0];
  const fn = sub ? SUBCOMMANDS[sub] : undefined;
  if (sub && !fn && sub !== '--help') {
    cli.err.write(`shoal volume: '${sub}' is not a shoal volume command.\nSee 'shoal volume --help'.\n`);
    return 1;
  }
  if (!fn) {
    cli.out.write(
      '\nUsage:  shoal volume COMMAND\n\nManage volumes\n\nCommands:\n  create\n  inspect\n  ls\n  prune\n  rm\n',
    );
    return 0;
  }
  return fn(cli, args.slice(1));
};
