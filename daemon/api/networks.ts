// /networks/* (API 1.41): the node's local networks (worker/network) and, when the node is in a swarm,
// the cluster's networks through the optional ClusterNetworks backend: list merges both, inspect and
// remove try the local networks first and fall through to the cluster's.
import { ShoalError } from '../../common/errors.js';
import type { NetworkView } from '../../worker/network/index.js';
import { badRequest } from '../http/errors.js';
import type { RequestContext, Router } from '../http/router.js';
import type { ApiDeps } from './deps.js';

/** Swarm-scope networks (the manager's), as Docker JSON; built elsewhere (overlay networks). */
export interface ClusterNetworks {
  list(): Promise<Record<string, unknown>[]>;
  /** Docker JSON, or undefined when the cluster has no such network. */
  inspect(ref: string): Promise<Record<string, unknown> | undefined>;
  /** Removes it; false when the cluster has no such network. */
  remove(ref: string): Promise<boolean>;
  /** Creates a swarm-scope network (driver overlay, or scope swarm); Docker's create body. */
  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }>;
  /** Removes the unused swarm networks the filters select (never ingress); their names. */
  prune(filters: Record<string, string[]>): Promise<string[]>;
}

export interface NetworkCreateBody {
  Name?: string;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  EnableIPv6?: boolean;
  CheckDuplicate?: boolean;
  IPAM?: {
    Driver?: string;
    Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] | null;
  } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** Docker's Network object for a local network. */
export function networkJson(n: NetworkView): Record<string, unknown> {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [],
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: Object.fromEntries(
      Object.entries(n.containers).map(([id, c]) => [
        id,
        { Name: c.name, EndpointID: c.endpointId, MacAddress: c.mac, IPv4Address: c.ipv4, IPv6Address: '' },
      ]),
    ),
    Options: n.options,
    Labels: n.labels,
  };
}

type Filters = Record<string, string[]>;

function parseFilters(raw: string | null): Filters {
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filters: ${raw} is not JSON`);
  }
  const out: Filters = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!['name', 'id', 'driver', 'label', 'scope', 'type', 'dangling'].includes(k))
      throw badRequest(`invalid filter '${k}'`);
    out[k] = Array.isArray(val) ? val.map(String) : Object.keys(val as object);
  }
  return out;
}

function matches(j: Record<string, unknown>, f: Filters): boolean {
  const labels = (j.Labels ?? {}) as Record<string, string>;
  const test: Record<string, (v: string) => boolean> = {
    name: (v) => String(j.Name).includes(v),
    id: (v) => String(j.Id).startsWith(v),
    driver: (v) => j.Driver === v,
    scope: (v) => j.Scope === v,
    type: (v) => (v === 'builtin') === ['bridge', 'host', 'none', 'ingress'].includes(String(j.Name)),
    label: (v) => {
      const [k, val] = v.split('=');
      return val === undefined ? k in labels : labels[k] === val;
    },
    dangling: () => true,
  };
  return Object.entries(f).every(([k, vals]) => vals.some((v) => test[k](v)));
}

const localOnly = (deps: ApiDeps) => {
  if (!deps.network) throw new ShoalError('unavailable', 'this node has no local networking');
  return deps.network;
};

async function create(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const body = ((await ctx.readJson()) ?? {}) as NetworkCreateBody;
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid body: not an object');
  if (typeof body.Name !== 'string' || !body.Name) throw badRequest('invalid Name: a network needs a name');
  if (body.Driver === 'overlay' || body.Scope === 'swarm') {
    if (!deps.clusterNetworks)
      throw new ShoalError(
        'failed_precondition',
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
      );
    ctx.reply.json(201, await deps.clusterNetworks.create(body));
    return;
  }
  if (body.EnableIPv6) throw badRequest('invalid EnableIPv6: IPv6 networks are not supported by shoal');
  const ipam = body.IPAM?.Config ?? [];
  if (ipam.length > 1) throw badRequest('invalid IPAM.Config: one IPv4 subnet per network');
  if (ipam[0]?.IPRange) throw badRequest('invalid IPAM.Config[0].IPRange: --ip-range is not supported');
  if (body.IPAM?.Driver && body.IPAM.Driver !== 'default')
    throw badRequest(`invalid IPAM.Driver: "${body.IPAM.Driver}" (only default)`);
  if (deps.clusterNetworks && (await deps.clusterNetworks.inspect(body.Name)))
    throw new ShoalError('conflict', `network with name ${body.Name} already exists`);
  const n = await localOnly(deps).create({
    name: body.Name,
    driver: body.Driver,
    subnet: ipam[0]?.Subnet,
    gateway: ipam[0]?.Gateway,
    internal: body.Internal,
    attachable: body.Attachable,
    labels: body.Labels ?? {},
    options: body.Options ?? {},
  });
  ctx.reply.json(201, { Id: n.id, Warning: '' });
}

async function inspect(deps: ApiDeps, ref: string): Promise<Record<string, unknown>> {
  if (deps.network?.has(ref)) return networkJson(deps.network.inspect(ref));
  const c = await deps.clusterNetworks?.inspect(ref);
  if (c) return c;
  throw new ShoalError('not_found', `network ${ref} not found`);
}

/** `{"Container": ref, "EndpointConfig": {Aliases, IPAMConfig: {IPv4Address}}}` */
interface ConnectBody {
  Container?: string;
  EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null;
  Force?: boolean;
}

export function registerNetworks(router: Router, deps: ApiDeps): void {
  if (!deps.network && !deps.clusterNetworks) return;
  router
    .get('/networks', async (ctx) => {
      const f = parseFilters(ctx.query.get('filters'));
      const local = deps.network?.list().map(networkJson) ?? [];
      const cluster = (await deps.clusterNetworks?.list()) ?? [];
      ctx.reply.json(
        200,
        [...local, ...cluster].filter((j) => matches(j, f)),
      );
    })
    .post('/networks/create', (ctx) => create(deps, ctx))
    .post('/networks/prune', async (ctx) => {
      const f = parseFilters(ctx.query.get('filters'));
      const gone = deps.network
        ? await deps.network.prune((n) => !matches(networkJson({ ...n, containers: {} }), f))
        : [];
      gone.push(...((await deps.clusterNetworks?.prune(f)) ?? []));
      ctx.reply.json(200, { NetworksDeleted: gone.length ? gone : null });
    })
    .get('/networks/:id', async (ctx) => ctx.reply.json(200, await inspect(deps, ctx.params.id)))
    .delete('/networks/:id', async (ctx) => {
      const ref = ctx.params.id;
      if (deps.network?.has(ref)) await deps.network.remove(ref);
      else if (!(await deps.clusterNetworks?.remove(ref)))
        throw new ShoalError('not_found', `network ${ref} not found`);
      ctx.reply.empty(204);
    })
    .post('/networks/:id/connect', async (ctx) => {
      const body = ((await ctx.readJson()) ?? {}) as ConnectBody;
      if (!body.Container) throw badRequest('invalid Container: which container to connect');
      const id = deps.engine.inspect(body.Container).id;
      await localOnly(deps).connectContainer(ctx.params.id, id, {
        aliases: body.EndpointConfig?.Aliases ?? undefined,
        ipv4Address: body.EndpointConfig?.IPAMConfig?.IPv4Address || undefined,
      });
      ctx.reply.empty(200);
    })
    .post('/networks/:id/disconnect', async (ctx) => {
      const body = ((await ctx.readJson()) ?? {}) as ConnectBody;
      if (!body.Container) throw badRequest('invalid Container: which container to disconnect');
      const id = deps.engine.inspect(body.Container).id;
      await localOnly(deps).disconnectContainer(ctx.params.id, id);
      ctx.reply.empty(200);
    });
}
