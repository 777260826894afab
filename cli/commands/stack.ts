// `shoal stack deploy|ls|services|ps|rm`: a stack is the services, networks, secrets and configs labelled
// com.docker.stack.namespace=NAME (docker's convention, so either CLI sees the other's stacks). deploy is in
// stack-deploy.ts; the listings reuse the service commands' tables.
import { NAMESPACE_LABEL } from '../../common/stack/index.js';
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import type { FlagSpec } from '../flags.js';
import { parseCommand, runSubcommand } from './common.js';
import { mergedFilters, printServices, printTasks, TASK_LIST_FLAGS } from './service.js';
import { type ServiceJson, writeList } from './swarm-format.js';

const USAGE = `
Usage:  shoal stack COMMAND

Manage Swarm stacks

Commands:
  deploy      Deploy a new stack or update an existing stack
  ls          List stacks
  ps          List the tasks in the stack
  rm          Remove one or more stacks
  services    List the services in the stack

Run 'shoal stack COMMAND --help' for more information on a command.
`;

const FORMAT: FlagSpec = { long: 'format', type: 'string', help: 'Format output using a custom template' };
const QUIET: FlagSpec = { long: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' };
const FILTER: FlagSpec = {
  long: 'filter',
  short: 'f',
  type: 'list',
  help: 'Filter output based on conditions provided',
};

const byStack = (stack: string) => ({ [NAMESPACE_LABEL]: [`${NAMESPACE_LABEL}=${stack}`] });
const stackQuery = (stack: string) => JSON.stringify({ label: { [`${NAMESPACE_LABEL}=${stack}`]: true } });

export function stack(cli: Cli, args: string[]): Promise<number> {
  return runSubcommand(cli, args, 'stack', USAGE, {
    deploy: async (c, a) => (await import('./stack-deploy.js')).deploy(c, a),
    up: async (c, a) => (await import('./stack-deploy.js')).deploy(c, a),
    ls,
    list: ls,
    services,
    ps,
    rm,
    remove: rm,
    down: rm,
  });
}

async function ls(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stack ls',
      usage: 'shoal stack ls [OPTIONS]',
      description: 'List stacks',
      flags: [FORMAT],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const all = await cli.client.get<ServiceJson[]>('/services', {
    filters: JSON.stringify({ label: { [NAMESPACE_LABEL]: true } }),
  });
  const counts = new Map<string, number>();
  for (const s of all) {
    const name = s.Spec.Labels?.[NAMESPACE_LABEL];
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const rows = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Name, n]) => ({ Name, Services: String(n) }));
  return writeList(
    cli,
    f.strings.get('format'),
    { Name: 'NAME', Services: 'SERVICES' },
    ['Name', 'Services'],
    rows,
  );
}

async function services(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stack services',
      usage: 'shoal stack services [OPTIONS] STACK',
      description: 'List the services in the stack',
      flags: [FILTER, FORMAT, QUIET],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const name = f.positionals[0];
  const filters = mergedFilters(cli, f, 'stack services', { label: byStack(name)[NAMESPACE_LABEL] });
  const list = await cli.client.get<ServiceJson[]>('/services', { filters, status: 'true' });
  if (list.length === 0) {
    cli.err.write(`Nothing found in stack: ${name}\n`);
    return 0;
  }
  return printServices(cli, list, f.bools.has('quiet'), f.strings.get('format'));
}

async function ps(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stack ps',
      usage: 'shoal stack ps [OPTIONS] STACK',
      description: 'List the tasks in the stack',
      flags: TASK_LIST_FLAGS,
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const name = f.positionals[0];
  const filters = mergedFilters(cli, f, 'stack ps', { label: byStack(name)[NAMESPACE_LABEL] });
  const tasks = await cli.client.get<Parameters<typeof printTasks>[1]>('/tasks', { filters });
  if (tasks.length === 0) {
    cli.err.write(`nothing found in stack: ${name}\n`);
    return 1;
  }
  return printTasks(cli, tasks, f, new Map());
}

interface Named {
  ID: string;
  Spec: { Name: string };
}

async function rm(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stack rm',
      usage: 'shoal stack rm STACK [STACK...]',
      description: 'Remove one or more stacks',
      flags: [],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  let failed = false;
  for (const name of f.positionals) {
    const filters = stackQuery(name);
    const svcs = await cli.client.get<Named[]>('/services', { filters });
    const nets = await cli.client.get<{ Id: string; Name: string }[]>('/networks', { filters });
    const secrets = await cli.client.get<Named[]>('/secrets', { filters });
    const configs = await cli.client.get<Named[]>('/configs', { filters });
    if (svcs.length + nets.length + secrets.length + configs.length === 0) {
      cli.err.write(`Nothing found in stack: ${name}\n`);
      continue;
    }
    // Services first (their tasks stop), then what they used; external objects carry no label and stay.
    const steps: [string, string, string][] = [
      ...svcs
        .sort(byName)
        .map((s): [string, string, string] => ['service', s.Spec.Name, `/services/${s.ID}`]),
      ...secrets
        .sort(byName)
        .map((s): [string, string, string] => ['secret', s.Spec.Name, `/secrets/${s.ID}`]),
      ...configs
        .sort(byName)
        .map((s): [string, string, string] => ['config', s.Spec.Name, `/configs/${s.ID}`]),
      ...nets.map((n): [string, string, string] => ['network', n.Name, `/networks/${n.Id}`]),
    ];
    for (const [kind, objName, path] of steps) {
      cli.out.write(`Removing ${kind} ${objName}\n`);
      try {
        await cli.client.call('DELETE', path);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        cli.err.write(`Failed to remove ${kind} ${objName}: ${err.message}\n`);
        failed = true;
      }
    }
  }
  if (failed) cli.err.write('failed to remove some resources from stack\n');
  return failed ? 1 : 0;
}

const byName = (a: Named, b: Named) => a.Spec.Name.localeCompare(b.Spec.Name);
