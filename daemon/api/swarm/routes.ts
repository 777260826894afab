// Engine API routes for swarm mode: /swarm, /nodes, /services, /tasks. Each handler translates the JSON,
// calls the backend (the control API is reached only through backend.control(), which refuses on a node that
// is not a manager) and translates back. ShoalErrors become HTTP statuses in daemon/http/errors.ts.
import { invalidArgument } from '../../../common/errors.js';
import { checkAddressPool } from '../../../manager/allocator/index.js';
import type { ControlOperations, Filters } from '../../../manager/controlapi/index.js';
import { defaultClusterSpec } from '../../../manager/store/defaults.js';
import type { Node, Service } from '../../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability } from '../../../proto/gen/shoal/swarm/v1/types.js';
import { ApiError, badRequest } from '../../http/errors.js';
import { queryBool, queryInt } from '../../http/query.js';
import type { RequestContext, Router } from '../../http/router.js';
import { rotationInProgress } from '../../swarm/ca-state.js';
import type { ClusterBackend } from './backend.js';
import { registerSecretsAndConfigs } from './data-routes.js';
import { Reader } from './json.js';
import { serveLogs } from './logs.js';
import { tlsInfoOfRoot } from './tls-info.js';
import {
  clusterJson,
  clusterSpecFromJson,
  nodeJson,
  nodeSpecFromJson,
  type ServiceStatusJson,
  serviceJson,
  serviceSpecFromJson,
  taskJson,
} from './translate.js';
import { refuseUnsupported } from './unsupported.js';

/** `filters={"key":{"value":true}}` (or the old `{"key":["value"]}`) → key → values. */
export function parseFilters(q: URLSearchParams): Filters {
  const raw = q.get('filters');
  if (raw === null || raw === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filters: not JSON: ${raw}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw badRequest('invalid filters: must be a JSON object of key → values');
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v as string[];
    else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = Object.keys(v);
    else throw badRequest(`invalid filters: the values of "${k}" must be an object {"value": true}`);
  }
  return out;
}

function requireVersion(q: URLSearchParams): number {
  const v = queryInt(q, 'version');
  if (v === undefined || v < 0)
    throw badRequest('invalid version: the version query parameter (the Version.Index read) is required');
  return v;
}

/** ServiceStatus as dockerd computes it for ?status=true (counted by the control API). */
function serviceStatuses(control: ControlOperations, services: Service[]): Map<string, ServiceStatusJson> {
  const out = new Map<string, ServiceStatusJson>();
  for (const [id, c] of control.serviceTaskCounts(services))
    out.set(id, { RunningTasks: c.running, DesiredTasks: c.desired, CompletedTasks: 0 });
  return out;
}

const AVAILABILITY: Record<string, NodeAvailability> = {
  active: NodeAvailability.NODE_AVAILABILITY_ACTIVE,
  pause: NodeAvailability.NODE_AVAILABILITY_PAUSE,
  drain: NodeAvailability.NODE_AVAILABILITY_DRAIN,
};

const UNLOCK_UNSUPPORTED =
  'autolock is not supported by shoal: managers do not encrypt their Raft data with an unlock key, so there is no key to show, rotate or unlock with';

/** DefaultAddrPool and SubnetSize of a swarm init body, checked (nothing is made when they are wrong). */
function addressPool(r: Reader): { defaultAddrPool: string[]; subnetSize: number } {
  const defaultAddrPool = r.strs('DefaultAddrPool');
  const subnetSize = r.uint('SubnetSize');
  checkAddressPool(defaultAddrPool, subnetSize);
  return { defaultAddrPool, subnetSize };
}

export function registerSwarm(router: Router, backend: ClusterBackend): void {
  // A follower answers from its own replica after a read barrier, so it never shows less than was acknowledged.
  const control = () => backend.control();
  const body = (ctx: RequestContext) => ctx.readJson();

  // ---- the swarm ----
  router.get('/swarm', async (ctx) => {
    const c = await control();
    const cluster = c.getCluster();
    // The current root's (the issuer of every node certificate once a rotation is complete), as dockerd.
    const tls = tlsInfoOfRoot(Buffer.from(cluster.rootCa?.caCert ?? []));
    ctx.reply.json(200, clusterJson(cluster, true, tls, rotationInProgress(cluster, c.listNodes())));
  });

  router.post('/swarm/init', async (ctx) => {
    const r = Reader.of(await body(ctx));
    if (r.bool('AutoLockManagers') || r.obj('Spec')?.obj('EncryptionConfig')?.bool('AutoLockManagers'))
      throw new ApiError(400, UNLOCK_UNSUPPORTED);
    const nodeId = await backend.init({
      listenAddr: r.str('ListenAddr', '0.0.0.0:2377') || '0.0.0.0:2377',
      advertiseAddr: r.str('AdvertiseAddr'),
      dataPathAddr: r.str('DataPathAddr'),
      forceNewCluster: r.bool('ForceNewCluster'),
      spec: clusterSpecFromJson(r.raw('Spec'), defaultClusterSpec()),
      availability: r.oneOf('Availability', AVAILABILITY, NodeAvailability.NODE_AVAILABILITY_UNSPECIFIED),
      ...addressPool(r),
    });
    ctx.reply.json(200, nodeId);
  });

  router.post('/swarm/join', async (ctx) => {
    const r = Reader.of(await body(ctx));
    const remoteAddrs = r.strs('RemoteAddrs');
    if (remoteAddrs.length === 0)
      throw invalidArgument('RemoteAddrs', 'at least one manager address is required');
    if (r.str('JoinToken') === '') throw invalidArgument('JoinToken', 'a join token is required');
    await backend.join({
      listenAddr: r.str('ListenAddr', '0.0.0.0:2377') || '0.0.0.0:2377',
      advertiseAddr: r.str('AdvertiseAddr'),
      dataPathAddr: r.str('DataPathAddr'),
      remoteAddrs,
      joinToken: r.str('JoinToken'),
      availability: r.oneOf('Availability', AVAILABILITY, NodeAvailability.NODE_AVAILABILITY_UNSPECIFIED),
    });
    ctx.reply.empty(200);
  });

  router.post('/swarm/leave', async (ctx) => {
    await backend.leave(queryBool(ctx.query, 'force'));
    ctx.reply.empty(200);
  });

  router.post('/swarm/update', async (ctx) => {
    const version = requireVersion(ctx.query);
    if (queryBool(ctx.query, 'rotateManagerUnlockKey')) throw new ApiError(400, UNLOCK_UNSUPPORTED);
    const c = await control();
    const current = c.getCluster();
    const spec = clusterSpecFromJson(await body(ctx), current.spec ?? defaultClusterSpec());
    await c.updateCluster(version, spec, {
      rotateWorkerToken: queryBool(ctx.query, 'rotateWorkerToken'),
      rotateManagerToken: queryBool(ctx.query, 'rotateManagerToken'),
    });
    ctx.reply.empty(200);
  });

  const unlockUnsupported = () => {
    throw new ApiError(501, UNLOCK_UNSUPPORTED);
  };
  router.get('/swarm/unlockkey', unlockUnsupported);
  router.post('/swarm/unlock', unlockUnsupported);

  // ---- nodes ----
  // Nodes that did not report their TLS info show the root's (what every node certificate is issued by).
  const withTls = (c: ControlOperations) => {
    const root = tlsInfoOfRoot(Buffer.from(c.getCluster().rootCa?.caCert ?? []));
    return (n: Node): Node =>
      n.description && !n.description.tlsInfo?.trustRoot.length && root
        ? { ...n, description: { ...n.description, tlsInfo: root } }
        : n;
  };
  router.get('/nodes', async (ctx) => {
    const c = await control();
    ctx.reply.json(200, c.listNodes(parseFilters(ctx.query)).map(withTls(c)).map(nodeJson));
  });
  router.get('/nodes/:id', async (ctx) => {
    const c = await control();
    ctx.reply.json(200, nodeJson(withTls(c)(c.getNode(ctx.params.id!))));
  });
  router.delete('/nodes/:id', async (ctx) => {
    await (await control()).removeNode(ctx.params.id!, queryBool(ctx.query, 'force'));
    ctx.reply.empty(200);
  });
  router.post('/nodes/:id/update', async (ctx) => {
    const version = requireVersion(ctx.query);
    await (await control()).updateNode(ctx.params.id!, version, nodeSpecFromJson(await body(ctx)));
    ctx.reply.empty(200);
  });

  // ---- services ----
  router.get('/services', async (ctx) => {
    const c = await control();
    const services = c.listServices(parseFilters(ctx.query));
    const statuses = queryBool(ctx.query, 'status') ? serviceStatuses(c, services) : undefined;
    ctx.reply.json(
      200,
      services.map((s) => serviceJson(s, statuses?.get(s.id))),
    );
  });

  router.post('/services/create', async (ctx) => {
    const spec = serviceSpecFromJson(await body(ctx));
    refuseUnsupported(spec);
    const s = await (await control()).createService(spec);
    ctx.reply.json(201, { ID: s.id });
  });

  router.get('/services/:id', async (ctx) => {
    queryBool(ctx.query, 'insertDefaults'); // stored specs are complete: both answers are the same
    ctx.reply.json(200, serviceJson((await control()).getService(ctx.params.id!)));
  });

  router.delete('/services/:id', async (ctx) => {
    await (await control()).removeService(ctx.params.id!);
    ctx.reply.empty(200);
  });

  router.post('/services/:id/update', async (ctx) => {
    const version = requireVersion(ctx.query);
    const rollback = ctx.query.get('rollback') ?? '';
    if (rollback !== '' && rollback !== 'previous')
      throw badRequest(`invalid rollback "${rollback}": the only value is "previous"`);
    const from = ctx.query.get('registryAuthFrom') ?? '';
    if (from !== '' && from !== 'spec' && from !== 'previous-spec')
      throw badRequest(`invalid registryAuthFrom "${from}": must be spec or previous-spec`);
    const json = await body(ctx);
    // With rollback=previous the body is the current spec (the CLI's habit) and is not used.
    const spec =
      rollback === 'previous'
        ? (await control()).getService(ctx.params.id!).spec!
        : serviceSpecFromJson(json);
    if (rollback !== 'previous') refuseUnsupported(spec);
    await (await control()).updateService(
      ctx.params.id!,
      version,
      spec,
      rollback === 'previous' ? { rollback: 'previous' } : {},
    );
    ctx.reply.json(200, { Warnings: null });
  });

  registerSecretsAndConfigs(router, control, parseFilters);

  // ---- tasks ----
  router.get('/tasks', async (ctx) =>
    ctx.reply.json(200, (await control()).listTasks(parseFilters(ctx.query)).map(taskJson)),
  );
  router.get('/tasks/:id', async (ctx) =>
    ctx.reply.json(200, taskJson((await control()).getTask(ctx.params.id!))),
  );

  // ---- logs (gathered from the nodes by the leader's log broker) ----
  router.get('/services/:id/logs', (ctx) => serveLogs(backend, ctx, 'service'));
  router.get('/tasks/:id/logs', (ctx) => serveLogs(backend, ctx, 'task'));
}
