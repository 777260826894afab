// `shoal stack deploy`: compose files → the stack's networks, secrets, configs and services, through the
// Engine API as `docker stack deploy` does it (the conversion is common/stack/, shared with nothing but pure;
// the CLI keeps the file I/O and the HTTP). Everything that can be checked is checked before the first
// write — the files (every problem at once), the secret/config files, external networks/secrets/configs,
// changed configs, ports other services hold — so a refused deploy changes nothing. A redeploy updates only
// the services whose spec changed (the file's, or the service's own since), adds new ones, and with
// --prune removes the stack's services the files no longer name.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  convertStack,
  InterpolationError,
  loadStack,
  NAMESPACE_LABEL,
  parseDotEnv,
  type StackFile,
  StackFileError,
  type StackPlan,
} from '../../common/stack/index.js';
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { UsageError } from '../context.js';
import type { FlagSpec } from '../flags.js';
import { parseCommand } from './common.js';
import { registryAuthHeader } from './image-transfer.js';
import { waitForConvergence } from './service-progress.js';
import type { ServiceJson } from './swarm-format.js';

type Json = Record<string, unknown>;

/** What the stack's last deploy wrote, so that a redeploy of the same file leaves the service alone. */
export const DIGEST_LABEL = 'org.shoal.stack.digest';

export const DEPLOY_FLAGS: FlagSpec[] = [
  {
    long: 'compose-file',
    short: 'c',
    type: 'list',
    help: 'Path to a Compose file, or "-" to read from stdin',
  },
  { long: 'prune', type: 'bool', help: 'Prune services that are no longer referenced' },
  { long: 'with-registry-auth', type: 'bool', help: 'Send registry authentication details to Swarm agents' },
  {
    long: 'resolve-image',
    type: 'string',
    help: 'Query the registry to resolve image digest and supported platforms ("always", "changed", "never")',
  },
  {
    long: 'detach',
    short: 'd',
    type: 'bool',
    help: 'Exit immediately instead of waiting for the stack services to converge (default true)',
  },
  { long: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output' },
];

class DeployRefused extends Error {}

/** How to take back one write of a deploy that failed later. */
interface Undo {
  what: string;
  run(): Promise<unknown>;
}

const label = (o: { Spec?: { Labels?: Record<string, string> } }) => o.Spec?.Labels ?? {};
const stackFilter = (stack: string) => JSON.stringify({ label: { [`${NAMESPACE_LABEL}=${stack}`]: true } });

async function readInput(cli: Cli, path: string): Promise<string> {
  if (path !== '-') return readFileSync(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of cli.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function deploy(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stack deploy',
      usage: 'shoal stack deploy [OPTIONS] STACK',
      description: 'Deploy a new stack or update an existing stack',
      flags: DEPLOY_FLAGS,
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const stack = f.positionals[0];
  const paths = f.lists.get('compose-file') ?? [];
  if (paths.length === 0)
    throw UsageError.flag('Specify a Compose file (with --compose-file)', 'stack deploy');
  const resolveImage = f.strings.get('resolve-image') ?? 'always';
  if (!['always', 'changed', 'never'].includes(resolveImage))
    throw UsageError.flag(
      `Invalid option ${resolveImage} for flag --resolve-image (always, changed, never)`,
      'stack deploy',
    );
  // --detach defaults to true, as in docker; --detach=false waits and shows the convergence.
  const detach = !f.falses.has('detach');

  let plan: StackPlan;
  let data: Map<string, Buffer>;
  try {
    const files: StackFile[] = [];
    for (const p of paths) {
      try {
        files.push({ name: p, text: await readInput(cli, p) });
      } catch (err) {
        throw new DeployRefused(
          `cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }
    const workingDir = paths[0] === '-' ? process.cwd() : dirname(resolve(paths[0]));
    const dotEnv = resolve(workingDir, '.env');
    const vars = {
      ...(existsSync(dotEnv) ? parseDotEnv(readFileSync(dotEnv, 'utf8'), dotEnv) : {}),
      ...cli.env,
    };
    const loaded = loadStack(files, vars);
    for (const w of loaded.warnings) cli.err.write(`${w}\n`);
    plan = convertStack(loaded, stack, {
      workingDir,
      env: vars,
      readFile: (p) => readFileSync(p, 'utf8'),
    });
    data = readObjectFiles(plan);
  } catch (err) {
    if (err instanceof StackFileError) {
      for (const p of err.problems) cli.err.write(`${p}\n`);
      cli.err.write(
        `stack ${stack} not deployed: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the compose file${paths.length > 1 ? 's' : ''}\n`,
      );
      return 1;
    }
    if (err instanceof DeployRefused || err instanceof InterpolationError) {
      cli.err.write(`${err.message}\nstack ${stack} not deployed\n`);
      return 1;
    }
    throw err;
  }

  const info = await cli.client.get<{ Swarm?: { ControlAvailable?: boolean } }>('/info');
  if (!info.Swarm?.ControlAvailable)
    throw new Error(
      'this node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again',
    );
  const current = await cli.client.get<ServiceJson[]>('/services', { filters: stackFilter(stack) });
  try {
    await precheck(cli, plan, data, current);
  } catch (err) {
    if (err instanceof DeployRefused) {
      cli.err.write(`${err.message}\nstack ${stack} not deployed; nothing changed\n`);
      return 1;
    }
    throw err;
  }

  // A write the daemon refuses half-way (what no check above foresaw) is undone: services created are
  // removed, services updated rolled back to their previous spec, objects created removed.
  const undo: Undo[] = [];
  let changed: string[];
  try {
    const networkIds = await createNetworks(cli, plan, undo);
    await createFileObjects(cli, plan, data, undo);
    changed = await deployServices(cli, plan, current, networkIds, undo, {
      resolveImage,
      withAuth: f.bools.has('with-registry-auth'),
    });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    cli.err.write(`Error response from daemon: ${err.message}
`);
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        cli.err.write(`could not undo (${u.what}): ${e.message}
`);
      }
    }
    cli.err.write(`stack ${stack} not deployed; what this deploy changed was undone\n`);
    return 1;
  }
  // Pruning last: it cannot be undone, so only once everything else is in.
  if (f.bools.has('prune')) {
    const keep = new Set(plan.services.map((s) => s.name));
    for (const s of current.filter((x) => !keep.has(x.Spec.Name))) {
      cli.out.write(`Removing service ${s.Spec.Name}\n`);
      await cli.client.call('DELETE', `/services/${s.ID}`);
    }
  }
  if (detach) return 0;
  for (const id of changed) await waitForConvergence(cli, id, { quiet: f.bools.has('quiet'), tty: false });
  return 0;
}

/** The data of every secret and config the stack creates (files read before anything is written). */
function readObjectFiles(plan: StackPlan): Map<string, Buffer> {
  const data = new Map<string, Buffer>();
  for (const o of [...plan.secrets, ...plan.configs]) {
    if (o.external || !o.file) continue;
    try {
      data.set(o.name, readFileSync(o.file));
    } catch (err) {
      throw new DeployRefused(
        `cannot read ${o.file} (for ${o.key}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  return data;
}

async function exists(cli: Cli, path: string): Promise<Json | undefined> {
  try {
    return await cli.client.get<Json>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Everything the daemon would refuse half-way, refused before the first write. */
async function precheck(
  cli: Cli,
  plan: StackPlan,
  data: Map<string, Buffer>,
  current: ServiceJson[],
): Promise<void> {
  const problems: string[] = [];
  for (const n of plan.networks.filter((x) => x.external))
    if (!(await exists(cli, `/networks/${encodeURIComponent(n.name)}`)))
      problems.push(`networks.${n.key}: external network "${n.name}" not found`);
  for (const [kind, list] of [
    ['secrets', plan.secrets],
    ['configs', plan.configs],
  ] as const) {
    for (const o of list) {
      const found = await exists(cli, `/${kind}/${encodeURIComponent(o.name)}`);
      if (o.external && !found)
        problems.push(`${kind}.${o.key}: external ${kind.slice(0, -1)} "${o.name}" not found`);
      // A config's data is immutable (and readable): a changed file needs a new name, as in docker.
      if (!o.external && found && kind === 'configs') {
        const old = Buffer.from(String((found.Spec as Json)?.Data ?? ''), 'base64');
        if (!old.equals(data.get(o.name) ?? Buffer.alloc(0)))
          problems.push(
            `configs.${o.key}: the data of config ${o.name} changed; configs cannot be changed, give the new version a new name`,
          );
      }
    }
  }
  // Published ports held by services outside this stack.
  const mine = new Set(current.map((s) => s.ID));
  const others = (await cli.client.get<ServiceJson[]>('/services')).filter((s) => !mine.has(s.ID));
  for (const s of plan.services) {
    for (const p of ((s.spec.EndpointSpec as Json).Ports ?? []) as Json[]) {
      if (p.PublishedPort === undefined) continue;
      const holder = others.find((o) =>
        ((o.Spec as Json).EndpointSpec as Json | undefined)?.Ports
          ? (((o.Spec as Json).EndpointSpec as Json).Ports as Json[]).some(
              (q) => q.PublishedPort === p.PublishedPort && (q.Protocol ?? 'tcp') === p.Protocol,
            )
          : false,
      );
      if (holder)
        problems.push(
          `services.${s.key}.ports: port ${p.PublishedPort}/${p.Protocol} is already published by service ${holder.Spec.Name}`,
        );
    }
  }
  if (problems.length) throw new DeployRefused(problems.join('\n'));
}

async function createNetworks(cli: Cli, plan: StackPlan, undo: Undo[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const existing = await cli.client.get<{ Id: string; Name: string }[]>('/networks', {
    filters: JSON.stringify({ label: { [`${NAMESPACE_LABEL}=${plan.namespace}`]: true } }),
  });
  for (const n of plan.networks) {
    if (n.external) {
      const net = await cli.client.get<{ Id: string }>(`/networks/${encodeURIComponent(n.name)}`);
      ids.set(n.name, net.Id);
      continue;
    }
    const have = existing.find((x) => x.Name === n.name);
    if (have) {
      ids.set(n.name, have.Id);
      continue;
    }
    cli.out.write(`Creating network ${n.name}\n`);
    const r = await cli.client.post<{ Id: string }>('/networks/create', undefined, n.create);
    undo.push({
      what: `remove network ${n.name}`,
      run: () => cli.client.call('DELETE', `/networks/${r.Id}`),
    });
    ids.set(n.name, r.Id);
  }
  return ids;
}

async function createFileObjects(
  cli: Cli,
  plan: StackPlan,
  data: Map<string, Buffer>,
  undo: Undo[],
): Promise<void> {
  for (const [kind, list] of [
    ['secrets', plan.secrets],
    ['configs', plan.configs],
  ] as const) {
    for (const o of list) {
      if (o.external) continue;
      if (await exists(cli, `/${kind}/${encodeURIComponent(o.name)}`)) continue;
      cli.out.write(`Creating ${kind.slice(0, -1)} ${o.name}\n`);
      const r = await cli.client.post<{ ID: string }>(`/${kind}/create`, undefined, {
        Name: o.name,
        Labels: o.labels,
        Data: (data.get(o.name) ?? Buffer.alloc(0)).toString('base64'),
        ...(o.templateDriver ? { Templating: { Name: o.templateDriver } } : {}),
      });
      undo.push({
        what: `remove ${kind.slice(0, -1)} ${o.name}`,
        run: () => cli.client.call('DELETE', `/${kind}/${r.ID}`),
      });
    }
  }
}

/** Secret/config names → IDs, network names → IDs, in place. */
async function resolveRefs(cli: Cli, spec: Json, networkIds: Map<string, string>): Promise<void> {
  const task = spec.TaskTemplate as Json;
  const cs = task.ContainerSpec as Json;
  for (const [kind, Kind] of [
    ['secrets', 'Secret'],
    ['configs', 'Config'],
  ] as const) {
    for (const r of (cs[`${Kind}s`] ?? []) as Json[]) {
      const o = await cli.client.get<{ ID: string }>(
        `/${kind}/${encodeURIComponent(String(r[`${Kind}Name`]))}`,
      );
      r[`${Kind}ID`] = o.ID;
    }
  }
  for (const n of (task.Networks ?? []) as Json[]) n.Target = networkIds.get(String(n.Target)) ?? n.Target;
}

const digestOf = (spec: Json) => createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 32);

/** True when every value `want` sets is what `have` holds (fields `want` leaves out are the daemon's defaults). */
function covers(have: unknown, want: unknown): boolean {
  if (want === undefined) return true;
  if (Array.isArray(want))
    return (
      (want.length === 0 && (have === undefined || have === null)) ||
      (Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w)))
    );
  if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object') return Object.keys(want).length === 0;
    return Object.entries(want).every(([k, w]) => covers((have as Json)[k], w));
  }
  return have === want || (have === undefined && (want === false || want === 0 || want === ''));
}

async function deployServices(
  cli: Cli,
  plan: StackPlan,
  current: ServiceJson[],
  networkIds: Map<string, string>,
  undo: Undo[],
  o: { resolveImage: string; withAuth: boolean },
): Promise<string[]> {
  const touched: string[] = [];
  for (const s of plan.services) {
    const spec = structuredClone(s.spec);
    await resolveRefs(cli, spec, networkIds);
    const labels = spec.Labels as Record<string, string>;
    labels[DIGEST_LABEL] = digestOf(spec);
    const have = current.find((c) => c.Spec.Name === s.name);
    const image = String(((spec.TaskTemplate as Json).ContainerSpec as Json).Image);
    if (have && label(have)[DIGEST_LABEL] === labels[DIGEST_LABEL]) {
      // The file did not change; the service may have (scaled, updated by hand): compare the fields.
      const pinned = {
        ...spec,
        TaskTemplate: {
          ...(spec.TaskTemplate as Json),
          ContainerSpec: {
            ...((spec.TaskTemplate as Json).ContainerSpec as Json),
            Image: ((have.Spec as Json).TaskTemplate as Json & { ContainerSpec: Json }).ContainerSpec.Image,
          },
        },
      };
      if (covers(have.Spec, pinned)) continue;
    }
    const resolve =
      o.resolveImage === 'always' ||
      (o.resolveImage === 'changed' && label(have ?? {})['com.docker.stack.image'] !== image);
    const auth = o.withAuth ? await registryAuthHeader(cli, image) : undefined;
    if (resolve) ((spec.TaskTemplate as Json).ContainerSpec as Json).Image = await pinImage(cli, image, auth);
    else if (have && o.resolveImage === 'changed')
      ((spec.TaskTemplate as Json).ContainerSpec as Json).Image = (
        (have.Spec as Json).TaskTemplate as Json & { ContainerSpec: Json }
      ).ContainerSpec.Image;
    const headers = auth ? { 'X-Registry-Auth': auth } : undefined;
    if (have) {
      cli.out.write(`Updating service ${s.name} (id: ${have.ID})\n`);
      const r = await cli.client.call<{ Warnings?: string[] | null }>('POST', `/services/${have.ID}/update`, {
        query: { version: have.Version.Index },
        body: spec,
        headers,
      });
      for (const w of r?.Warnings ?? []) cli.err.write(`${w}\n`);
      undo.push({ what: `roll back service ${s.name}`, run: () => rollBack(cli, have.ID) });
      touched.push(have.ID);
    } else {
      cli.out.write(`Creating service ${s.name}\n`);
      const r = await cli.client.call<{ ID: string; Warnings?: string[] | null }>(
        'POST',
        '/services/create',
        {
          body: spec,
          headers,
        },
      );
      for (const w of r.Warnings ?? []) cli.err.write(`${w}\n`);
      undo.push({
        what: `remove service ${s.name}`,
        run: () => cli.client.call('DELETE', `/services/${r.ID}`),
      });
      touched.push(r.ID);
    }
  }
  return touched;
}

/**
 * Back to the spec before this deploy's update (the daemon keeps it as PreviousSpec). The managers write the
 * service too (the rollout that update began), so a version that moved between the read and the write is read
 * again and the rollback asked again.
 */
async function rollBack(cli: Cli, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const now = await cli.client.get<ServiceJson>(`/services/${id}`, { insertDefaults: 'false' });
    try {
      await cli.client.call('POST', `/services/${id}/update`, {
        query: { rollback: 'previous', version: now.Version.Index },
        body: now.Spec,
      });
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409) || attempt === 5) throw err;
    }
  }
}

/** IMAGE → IMAGE@DIGEST from the registry (GET /distribution), or IMAGE with a warning when it cannot be reached. */
async function pinImage(cli: Cli, image: string, auth: string | undefined): Promise<string> {
  if (image.includes('@')) return image;
  try {
    const d = await cli.client.call<{ Descriptor: { digest: string } }>(
      'GET',
      `/distribution/${image}/json`,
      {
        headers: auth ? { 'X-Registry-Auth': auth } : undefined,
      },
    );
    return `${image}@${d.Descriptor.digest}`;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    cli.err.write(
      `image ${image} could not be accessed on a registry to record its digest (${err.message}); each node will use its own copy of ${image}\n`,
    );
    return image;
  }
}
