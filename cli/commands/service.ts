// `shoal service create|ls|ps|inspect|scale|update|rollback|rm`: the docker CLI's service commands,
// speaking the Engine API exactly as docker 28 does (see /work/shared/docker-api/README.md §2, §4);
// `shoal service restart`, which docker lacks, is an update that bumps ForceUpdate and changes nothing else.
import { readFileSync } from 'node:fs';
import { ApiError } from '../client.js';
import { type Cli, UsageError } from '../context.js';
import { FlagError, type FlagSpec, type ParsedFlags } from '../flags.js';
import { parseCommand, runSubcommand } from './common.js';
import { registryAuthHeader } from './image-transfer.js';
import { inspectEach } from './inspect.js';
import { filtersQuery } from './ps.js';
import { prettyService } from './service-pretty.js';
import { waitForConvergence } from './service-progress.js';
import {
  applyServiceUpdate,
  buildServiceSpec,
  CREATE_FLAGS,
  fileRefs,
  networkChanges,
  UPDATE_FLAGS,
} from './service-spec.js';
import {
  isTableFormat,
  type NodeJson,
  SERVICE_COLUMNS,
  SERVICE_HEADERS,
  type ServiceJson,
  serviceRow,
  TASK_COLUMNS,
  TASK_HEADERS,
  type TaskJson,
  taskRows,
  writeList,
} from './swarm-format.js';

type Json = Record<string, unknown>;

const SUBCOMMANDS: Record<string, (cli: Cli, args: string[]) => Promise<number>> = {
  create,
  ls,
  list: ls,
  ps,
  inspect,
  scale,
  update,
  rollback,
  restart,
  rm,
  remove: rm,
  logs: async (cli, args) => (await import('./service-logs.js')).serviceLogs(cli, args),
};

const USAGE = `
Usage:  shoal service COMMAND

Manage Swarm services

Commands:
  create      Create a new service
  inspect     Display detailed information on one or more services
  logs        Fetch the logs of a service or task
  ls          List services
  ps          List the tasks of one or more services
  restart     Replace every task of a service, batch by batch per its update config
  rm          Remove one or more services
  rollback    Revert changes to a service's configuration
  scale       Scale one or multiple replicated services
  update      Update a service

Run 'shoal service COMMAND --help' for more information on a command.
`;

export function service(cli: Cli, args: string[]): Promise<number> {
  return runSubcommand(cli, args, 'service', USAGE, SUBCOMMANDS);
}

const specEnv = (cli: Cli) => ({ env: cli.env, readFile: (p: string) => readFileSync(p, 'utf8') });
const isTty = (cli: Cli) => Boolean((cli.out as NodeJS.WriteStream).isTTY);

/** Flag errors of the spec builders become usage errors of the command. */
function withUsage<T>(command: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FlagError) throw UsageError.flag(err.message, command);
    throw err;
  }
}

/** `--network appnet` sends the network's ID, as docker resolves it (GET /networks/{name}?scope=swarm). */
async function resolveNetworks(cli: Cli, attachments: Json[] | undefined): Promise<void> {
  for (const a of attachments ?? []) {
    const net = await cli.client.get<{ Id: string }>(`/networks/${encodeURIComponent(a.Target as string)}`, {
      scope: 'swarm',
    });
    a.Target = net.Id;
  }
}

/** Secret/config names → IDs with one filtered list request per kind, as docker does. */
async function resolveFileRefs(cli: Cli, refs: Json[] | undefined, kind: 'secret' | 'config'): Promise<void> {
  if (!refs?.length) return;
  const Kind = kind === 'secret' ? 'Secret' : 'Config';
  const names = refs.map((r) => r[`${Kind}Name`] as string);
  const found = await cli.client.get<{ ID: string; Spec: { Name: string } }[]>(`/${kind}s`, {
    filters: JSON.stringify({ name: Object.fromEntries(names.map((n) => [n, true])) }),
  });
  for (const r of refs) {
    const name = r[`${Kind}Name`] as string;
    const hit = found.find((x) => x.Spec.Name === name) ?? found.find((x) => x.ID === name);
    if (!hit) throw new Error(`${kind} not found: ${name}`);
    r[`${Kind}ID`] = hit.ID;
    r[`${Kind}Name`] = hit.Spec.Name;
  }
}

function printWarnings(cli: Cli, reply: { Warnings?: string[] | null } | undefined): void {
  for (const w of reply?.Warnings ?? []) cli.err.write(`${w}\n`);
}

/** After create/update/rollback: the daemon's warnings, the service, then its convergence unless --detach. */
async function reportAndFollow(
  cli: Cli,
  f: ParsedFlags,
  ref: string,
  reply: { Warnings?: string[] | null } | undefined,
): Promise<number> {
  printWarnings(cli, reply);
  cli.out.write(`${ref}\n`);
  if (f.bools.has('detach')) return 0;
  await waitForConvergence(cli, ref, { quiet: f.bools.has('quiet'), tty: isTty(cli) });
  return 0;
}

async function create(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service create',
      usage: 'shoal service create [OPTIONS] IMAGE [COMMAND] [ARG...]',
      description: 'Create a new service',
      flags: CREATE_FLAGS,
      interspersed: false,
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const spec = withUsage('service create', () => buildServiceSpec(f, specEnv(cli)));
  const task = spec.TaskTemplate as Json & { ContainerSpec: Json };
  await resolveNetworks(cli, task.Networks as Json[] | undefined);
  await resolveFileRefs(cli, task.ContainerSpec.Secrets as Json[] | undefined, 'secret');
  await resolveFileRefs(cli, task.ContainerSpec.Configs as Json[] | undefined, 'config');
  const reply = await cli.client.post<{ ID: string; Warnings?: string[] | null }>(
    '/services/create',
    undefined,
    spec,
  );
  return reportAndFollow(cli, f, reply.ID, reply);
}

const FORMAT: FlagSpec = { long: 'format', type: 'string', help: 'Format output using a custom template' };
const FILTER: FlagSpec = {
  long: 'filter',
  short: 'f',
  type: 'list',
  help: 'Filter output based on conditions provided',
};
const QUIET: FlagSpec = { long: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' };

function filtersOf(_cli: Cli, f: ParsedFlags, command: string): string | undefined {
  try {
    return filtersQuery(f.lists.get('filter') ?? []);
  } catch (err) {
    throw UsageError.flag((err as Error).message, command);
  }
}

async function ls(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service ls',
      usage: 'shoal service ls [OPTIONS]',
      description: 'List services',
      flags: [FILTER, FORMAT, QUIET],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const quiet = f.bools.has('quiet');
  const services = await cli.client.get<ServiceJson[]>('/services', {
    filters: filtersOf(cli, f, 'service ls'),
    status: quiet ? undefined : 'true',
  });
  return printServices(cli, services, quiet, f.strings.get('format'));
}

/** The services by name: ids (quiet), or docker's table / --format (`service ls`, `stack services`). */
export async function printServices(
  cli: Cli,
  services: ServiceJson[],
  quiet: boolean,
  format: string | undefined,
): Promise<number> {
  services.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
  if (!quiet && services.some((s) => !s.ServiceStatus)) await countReplicas(cli, services);
  if (quiet) {
    cli.out.write(services.map((s) => `${s.ID.slice(0, 12)}\n`).join(''));
    return 0;
  }
  return writeList(
    cli,
    format,
    SERVICE_HEADERS,
    SERVICE_COLUMNS,
    services.map((s) => serviceRow(s)),
  );
}

/**
 * A daemon without ?status=true support: docker counts the replicas itself from GET /tasks and
 * GET /nodes (running tasks on nodes that are not down; desired = replicas, or one per node for global).
 */
async function countReplicas(cli: Cli, services: ServiceJson[]): Promise<void> {
  const filters = JSON.stringify({ service: Object.fromEntries(services.map((s) => [s.ID, true])) });
  const tasks = await cli.client.get<TaskJson[]>('/tasks', { filters });
  const nodes = await cli.client.get<NodeJson[]>('/nodes');
  const live = new Set(nodes.filter((n) => n.Status?.State !== 'down').map((n) => n.ID));
  for (const s of services) {
    if (s.ServiceStatus) continue;
    const mine = tasks.filter((t) => t.ServiceID === s.ID && (!t.NodeID || live.has(t.NodeID)));
    const running = mine.filter((t) => t.Status.State === 'running').length;
    const desired = s.Spec.Mode?.Global
      ? new Set(mine.filter((t) => t.DesiredState !== 'shutdown').map((t) => t.NodeID)).size
      : (s.Spec.Mode?.Replicated?.Replicas ?? 0);
    s.ServiceStatus = { RunningTasks: running, DesiredTasks: desired };
  }
}

/** docker's service lookup for ps: by ID (prefix) first, then by name. */
async function findService(cli: Cli, ref: string): Promise<ServiceJson> {
  const byId = await cli.client.get<ServiceJson[]>('/services', {
    filters: JSON.stringify({ id: { [ref]: true } }),
  });
  const byName = await cli.client.get<ServiceJson[]>('/services', {
    filters: JSON.stringify({ name: { [ref]: true } }),
  });
  const found =
    byId.find((s) => s.ID === ref) ??
    byName.find((s) => s.Spec.Name === ref) ??
    (byId.length === 1 ? byId[0] : undefined);
  if (!found) throw new Error(`no such service: ${ref}`);
  return found;
}

export async function printTasks(
  cli: Cli,
  tasks: TaskJson[],
  f: ParsedFlags,
  services: Map<string, ServiceJson>,
): Promise<number> {
  const trunc = !f.bools.has('no-trunc');
  if (f.bools.has('quiet')) {
    cli.out.write(tasks.map((t) => `${trunc ? t.ID.slice(0, 12) : t.ID}\n`).join(''));
    return 0;
  }
  for (const t of tasks) {
    if (!services.has(t.ServiceID)) {
      try {
        services.set(
          t.ServiceID,
          await cli.client.get<ServiceJson>(`/services/${t.ServiceID}`, { insertDefaults: 'false' }),
        );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    }
  }
  const nodeNames = new Map<string, string>();
  for (const id of new Set(tasks.map((t) => t.NodeID).filter((n): n is string => Boolean(n)))) {
    try {
      const n = await cli.client.get<NodeJson>(`/nodes/${id}`);
      nodeNames.set(id, n.Description?.Hostname ?? id);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
    }
  }
  const rows = taskRows(tasks, {
    serviceNames: new Map([...services].map(([id, s]) => [id, s.Spec.Name])),
    globalServices: new Set([...services].filter(([, s]) => s.Spec.Mode?.Global).map(([id]) => id)),
    nodeNames,
    now: Date.now(),
    trunc,
    table: isTableFormat(f.strings.get('format')),
  });
  return writeList(cli, f.strings.get('format'), TASK_HEADERS, TASK_COLUMNS, rows);
}

export const TASK_LIST_FLAGS: FlagSpec[] = [
  FILTER,
  FORMAT,
  { long: 'no-resolve', type: 'bool', help: 'Do not map IDs to Names' },
  { long: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
  { long: 'quiet', short: 'q', type: 'bool', help: 'Only display task IDs' },
];

/** Merges `-f` filters with fixed ones into docker's sorted filter JSON. */
export function mergedFilters(
  cli: Cli,
  f: ParsedFlags,
  command: string,
  extra: Record<string, string[]>,
): string {
  const user = filtersOf(cli, f, command);
  const all: Record<string, Record<string, boolean>> = user ? JSON.parse(user) : {};
  for (const [k, vals] of Object.entries(extra)) {
    all[k] ??= {};
    for (const v of vals) all[k][v] = true;
  }
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(all)
        .sort()
        .map((k) => [k, all[k]]),
    ),
  );
}

async function ps(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service ps',
      usage: 'shoal service ps [OPTIONS] SERVICE [SERVICE...]',
      description: 'List the tasks of one or more services',
      flags: TASK_LIST_FLAGS,
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const services = new Map<string, ServiceJson>();
  for (const ref of f.positionals) {
    const s = await findService(cli, ref);
    services.set(s.ID, s);
  }
  const filters = mergedFilters(cli, f, 'service ps', { service: [...services.keys()] });
  const tasks = await cli.client.get<TaskJson[]>('/tasks', { filters });
  // docker re-reads each service (insertDefaults=false) for its name and mode.
  services.clear();
  return printTasks(cli, tasks, f, services);
}

async function inspect(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service inspect',
      usage: 'shoal service inspect [OPTIONS] SERVICE [SERVICE...]',
      description: 'Display detailed information on one or more services',
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
    fetch: (ref) =>
      cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, { insertDefaults: 'true' }),
    missing: (ref) => `no such service: ${ref}`,
    format: f.strings.get('format'),
    pretty: f.bools.has('pretty') ? (s) => prettyService(s) : undefined,
  });
}

async function scale(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service scale',
      usage: 'shoal service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]',
      description: 'Scale one or multiple replicated services',
      flags: [
        {
          long: 'detach',
          short: 'd',
          type: 'bool',
          help: 'Exit immediately instead of waiting for the service to converge',
        },
      ],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const pairs = f.positionals.map((p) => {
    const m = /^([^=]+)=(.*)$/.exec(p);
    if (!m)
      throw new UsageError(
        `Invalid scale specifier '${p}'.\nSee 'shoal service scale --help'.`,
        'service scale',
      );
    if (!/^\d+$/.test(m[2]))
      throw new UsageError(
        `invalid replicas value ${m[2]}: strconv.ParseUint: parsing "${m[2]}": invalid syntax`,
        'service scale',
      );
    return { ref: m[1], replicas: Number(m[2]) };
  });
  const errors: string[] = [];
  const scaled: string[] = [];
  for (const { ref, replicas } of pairs) {
    try {
      const s = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
        insertDefaults: 'false',
      });
      if (!s.Spec.Mode?.Replicated)
        throw new Error('scale can only be used with replicated or replicated-job mode');
      s.Spec.Mode.Replicated = { ...s.Spec.Mode.Replicated, Replicas: replicas };
      const reply = await cli.client.post<{ Warnings?: string[] | null }>(
        `/services/${s.ID}/update`,
        { version: s.Version.Index },
        s.Spec,
      );
      printWarnings(cli, reply);
      cli.out.write(`${ref} scaled to ${replicas}\n`);
      scaled.push(ref);
    } catch (err) {
      errors.push(`${ref}: ${(err as Error).message}`);
    }
  }
  if (!f.bools.has('detach')) {
    for (const ref of scaled) {
      try {
        await waitForConvergence(cli, ref, { quiet: false, tty: isTty(cli) });
      } catch (err) {
        errors.push(`${ref}: ${(err as Error).message}`);
      }
    }
  }
  if (errors.length === 0) return 0;
  cli.err.write(`${errors.join('\n')}\n`);
  return 1;
}

async function update(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service update',
      usage: 'shoal service update [OPTIONS] SERVICE',
      description: 'Update a service',
      flags: UPDATE_FLAGS,
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const ref = f.positionals[0];
  const current = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
    insertDefaults: 'false',
  });
  const rollingBack = f.bools.has('rollback');
  let spec: Json = current.Spec as Json;
  if (!rollingBack) {
    spec = withUsage('service update', () => applyServiceUpdate(current.Spec as Json, f, specEnv(cli)));
    const { add, rm } = withUsage('service update', () => networkChanges(f));
    if (add.length || rm.length) {
      await resolveNetworks(cli, add);
      const rmIds = new Set<string>(rm);
      for (const name of rm) {
        try {
          rmIds.add(
            (
              await cli.client.get<{ Id: string }>(`/networks/${encodeURIComponent(name)}`, {
                scope: 'swarm',
              })
            ).Id,
          );
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
      }
      const task = spec.TaskTemplate as Json;
      const cur = ((task.Networks as Json[] | undefined) ?? []).filter((n) => !rmIds.has(n.Target as string));
      const next = [...cur, ...add.filter((a) => !cur.some((c) => c.Target === a.Target))];
      task.Networks = next.length ? next : undefined;
    }
    // docker's getUpdatedSecrets/Configs: drop the named ones, then append the added ones (resolved to IDs).
    for (const kind of ['secret', 'config'] as const) {
      const Kind = kind === 'secret' ? 'Secret' : 'Config';
      const rm = f.lists.get(`${kind}-rm`) ?? [];
      const add =
        withUsage('service update', () =>
          fileRefs(f.lists.get(`${kind}-add`) ?? [], `--${kind}-add`, Kind),
        ) ?? [];
      if (rm.length === 0 && add.length === 0) continue;
      await resolveFileRefs(cli, add, kind);
      const cs = (spec.TaskTemplate as Json).ContainerSpec as Json;
      const cur = ((cs[`${Kind}s`] as Json[] | undefined) ?? []).filter(
        (r) => !rm.includes(r[`${Kind}Name`] as string),
      );
      const next = [...cur, ...add];
      cs[`${Kind}s`] = next.length ? next : undefined;
    }
  }
  const sendAuth = f.bools.has('with-registry-auth');
  const image = ((spec.TaskTemplate as Json | undefined)?.ContainerSpec as Json | undefined)?.Image as string;
  const reply = await cli.client.call<{ Warnings?: string[] | null }>(
    'POST',
    `/services/${current.ID}/update`,
    {
      query: rollingBack
        ? { rollback: 'previous', version: current.Version.Index }
        : { registryAuthFrom: sendAuth ? undefined : 'spec', version: current.Version.Index },
      body: spec,
      headers: sendAuth ? { 'X-Registry-Auth': await registryAuthHeader(cli, image ?? '') } : undefined,
    },
  );
  return reportAndFollow(cli, f, ref, reply);
}

async function rollback(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service rollback',
      usage: 'shoal service rollback [OPTIONS] SERVICE',
      description: "Revert changes to a service's configuration",
      flags: [
        {
          long: 'detach',
          short: 'd',
          type: 'bool',
          help: 'Exit immediately instead of waiting for the service to converge',
        },
        QUIET,
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const ref = f.positionals[0];
  const current = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
    insertDefaults: 'false',
  });
  // The body is the current spec: the daemon swaps in PreviousSpec itself.
  const reply = await cli.client.post<{ Warnings?: string[] | null }>(
    `/services/${current.ID}/update`,
    { rollback: 'previous', version: current.Version.Index },
    current.Spec,
  );
  return reportAndFollow(cli, f, ref, reply);
}

/**
 * Every task replaced with a new one of the same spec, at the update config's pace (parallelism, delay,
 * order, failure action): a service update whose only change is TaskTemplate.ForceUpdate + 1.
 */
async function restart(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service restart',
      usage: 'shoal service restart [OPTIONS] SERVICE',
      description: 'Replace every task of a service, batch by batch per its update config',
      flags: [
        {
          long: 'detach',
          short: 'd',
          type: 'bool',
          help: 'Exit immediately instead of waiting for the service to converge',
        },
        { long: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output' },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const ref = f.positionals[0];
  const current = await cli.client.get<ServiceJson>(`/services/${encodeURIComponent(ref)}`, {
    insertDefaults: 'false',
  });
  const spec = structuredClone(current.Spec) as Json;
  const task = (spec.TaskTemplate ?? {}) as Json;
  task.ForceUpdate = Number(task.ForceUpdate ?? 0) + 1;
  spec.TaskTemplate = task;
  const reply = await cli.client.post<{ Warnings?: string[] | null }>(
    `/services/${current.ID}/update`,
    { registryAuthFrom: 'spec', version: current.Version.Index },
    spec,
  );
  return reportAndFollow(cli, f, ref, reply);
}

async function rm(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'service rm',
      usage: 'shoal service rm SERVICE [SERVICE...]',
      description: 'Remove one or more services',
      flags: [],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const errors: string[] = [];
  for (const ref of f.positionals) {
    try {
      await cli.client.call('DELETE', `/services/${encodeURIComponent(ref)}`);
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
