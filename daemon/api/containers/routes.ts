// /containers/* endpoints of the Engine API, translated onto the engine's ContainerManager.

import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { parseDetachKeys } from '../../../common/detach-keys.js';
import { ShoalError } from '../../../common/errors.js';
import type {
  ContainerStats,
  ResourceOptions,
  RestartPolicyName,
  WaitCondition,
} from '../../../worker/engine/index.js';
import { badRequest, conflict, notFound } from '../../http/errors.js';
import { queryBool, queryInt, queryTail, queryTime } from '../../http/query.js';
import type { RequestContext, Router } from '../../http/router.js';
import type { ApiDeps } from '../deps.js';
import { pruneFilter } from '../prune-filters.js';
import { containerCreateSchema, containerUpdateSchema, validateBody } from '../schemas.js';
import { muxFrame, STDERR, STDOUT, splice, stdinPolicy, writeAsync } from '../streams.js';
import { containerFilter, type FilterContext, type Filters, parseFilters } from './filters.js';
import { statsJson } from './stats.js';
import { parsePs } from './top.js';
import {
  type CreateBody,
  createOptionsFromBody,
  inspectJson,
  listEntryJson,
  verifyResources,
} from './translate.js';

const execFileAsync = promisify(execFile);

const WAIT_CONDITIONS = new Set<WaitCondition>(['not-running', 'next-exit', 'removed']);

/** The engine's full id for a user's reference (id, unique prefix, or name); 404 when unknown. */
function resolveId(deps: ApiDeps, ref: string): string {
  return deps.engine.inspect(ref).id;
}

async function create(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const body = validateBody<CreateBody>(containerCreateSchema, await ctx.readJson());
  verifyResources(body.HostConfig, availableParallelism());
  const name = ctx.query.get('name') || undefined;
  if (name !== undefined && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw badRequest(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  let image: Awaited<ReturnType<NonNullable<ApiDeps['images']>['resolve']>> | undefined;
  if (!body.Rootfs) {
    if (!body.Image) throw badRequest('no image given: set Image (or Rootfs, a root filesystem directory)');
    if (!deps.images) throw notFound(`No such image: ${body.Image}`);
    image = await deps.images.resolve(body.Image);
  }
  const created = await deps.engine.create(createOptionsFromBody(body, name, image));
  ctx.reply.json(201, { Id: created.id, Warnings: created.warnings ?? [] });
}

/** Containers and images the filters name, looked up once per request. */
async function filterContext(deps: ApiDeps, f: Filters): Promise<FilterContext> {
  const images = new Map<string, string | undefined>();
  for (const ref of f.ancestor ?? [])
    images.set(
      ref,
      await deps.images?.resolve(ref).then(
        (i) => i.id,
        () => undefined,
      ),
    );
  return {
    container: (ref) => {
      try {
        return deps.engine.inspect(ref);
      } catch {
        return undefined;
      }
    },
    imageId: (ref) => images.get(ref),
  };
}

/** POST /containers/prune: removes every stopped container the filters select, as dockerd. */
async function prune(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const { matches } = pruneFilter(ctx.query.get('filters'), deps.now().getTime());
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const c of deps.engine.list({ all: true })) {
    if (c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting')
      continue;
    if (!matches({ created: Date.parse(c.created), labels: c.config.labels })) continue;
    const size = await deps.engine.writableSize(c.id);
    try {
      await deps.engine.remove(c.id);
    } catch {
      continue; // started or removed meanwhile: not pruned, as dockerd skips what it cannot remove
    }
    deleted.push(c.id);
    reclaimed += size;
  }
  ctx.reply.json(200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
}

async function list(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const filters = parseFilters(ctx.query.get('filters'));
  // As dockerd: a status filter looks at stopped containers too.
  const all =
    queryBool(ctx.query, 'all') || (filters.status?.length ?? 0) > 0 || (filters.exited?.length ?? 0) > 0;
  const limit = queryInt(ctx.query, 'limit');
  const matches = containerFilter(filters, await filterContext(deps, filters));
  let containers = deps.engine.list({ all }).filter(matches);
  if (limit !== undefined && limit > 0) containers = containers.slice(0, limit);
  const now = deps.now();
  ctx.reply.json(
    200,
    containers.map((c) => listEntryJson(c, now, deps.network?.containerView(c.id))),
  );
}

async function wait(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
  if (!WAIT_CONDITIONS.has(condition))
    throw badRequest(`invalid condition "${condition}": use not-running, next-exit or removed`);
  const id = resolveId(deps, ctx.params.id);
  // Register the wait before flushing the headers: the client starts the container once it sees them.
  const result = deps.engine.wait(id, condition, ctx.closed);
  result.catch(() => {});
  const out = ctx.reply.stream(200, { 'Content-Type': 'application/json' });
  try {
    const r = await result;
    out.end(JSON.stringify({ Error: r.error ? { Message: r.error } : null, StatusCode: r.exitCode }) + '\n');
  } catch (err) {
    if (ctx.closed.aborted) return;
    out.end(JSON.stringify({ Error: { Message: (err as Error).message }, StatusCode: -1 }) + '\n');
  }
}

async function attach(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const q = ctx.query;
  const id = resolveId(deps, ctx.params.id);
  const keys = q.get('detachKeys') || undefined;
  if (keys) parseDetachKeys(keys); // 400 before the attach
  const stream = await deps.engine.attach(id, {
    stdin: queryBool(q, 'stdin'),
    stdout: queryBool(q, 'stdout'),
    stderr: queryBool(q, 'stderr'),
  });
  const client = ctx.reply.hijack();
  const c = deps.engine.inspect(id);
  await splice(
    client,
    stream,
    stdinPolicy({ attachStdin: queryBool(q, 'stdin'), detachKeys: keys }, c.config.tty),
  );
}

async function logs(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const q = ctx.query;
  const c = deps.engine.inspect(ctx.params.id);
  const stdout = queryBool(q, 'stdout');
  const stderr = queryBool(q, 'stderr');
  if (!stdout && !stderr) throw badRequest('Bad parameters: you must choose at least one stream');
  const timestamps = queryBool(q, 'timestamps');
  const tty = c.config.tty;
  const entries = deps.engine.logs(c.id, {
    stdout,
    stderr,
    follow: queryBool(q, 'follow'),
    tail: queryTail(q) ?? 'all',
    since: queryTime(q, 'since'),
    // A zero `until` reads as unset here (since the epoch and everything after are the same for `since`).
    until: queryTime(q, 'until') || undefined,
    signal: ctx.closed,
  });
  // As dockerd: chunked, and no Content-Type.
  const out = ctx.reply.stream(200);
  try {
    for await (const e of entries) {
      const payload = timestamps ? Buffer.concat([Buffer.from(`${e.time} `), e.line]) : e.line;
      await writeAsync(out, tty ? payload : muxFrame(e.stream === 'stderr' ? STDERR : STDOUT, payload));
    }
  } catch (err) {
    if (ctx.closed.aborted) return;
    throw err;
  }
  out.end();
}

async function stats(deps: ApiDeps, ctx: RequestContext, cache: Map<string, ContainerStats>): Promise<void> {
  const c = deps.engine.inspect(ctx.params.id);
  const stream = queryBool(ctx.query, 'stream', true);
  const oneShot = queryBool(ctx.query, 'one-shot');
  const sample = async () => {
    const s = await deps.engine.stats(c.id);
    const pre = cache.get(c.id);
    cache.set(c.id, s);
    return { s, pre };
  };
  if (!stream) {
    let { s, pre } = await sample();
    if (!pre && !oneShot) {
      // A cpu percentage needs two samples: take the second a moment later, as dockerd does.
      await new Promise((r) => setTimeout(r, 500));
      ({ s, pre } = await sample());
    }
    ctx.reply.json(200, statsJson(c, s, oneShot ? undefined : pre));
    return;
  }
  const out = ctx.reply.stream(200, { 'Content-Type': 'application/json' });
  while (!ctx.closed.aborted) {
    try {
      const { s, pre } = await sample();
      await writeAsync(out, Buffer.from(JSON.stringify(statsJson(c, s, pre)) + '\n'));
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  out.end();
}

async function top(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const c = deps.engine.inspect(ctx.params.id);
  if (!c.state.running) throw conflict(`Container ${c.id} is not running`);
  const pids = new Set(await deps.engine.top(c.id));
  const args = (ctx.query.get('ps_args') || '-ef').split(' ').filter(Boolean);
  let output: string;
  try {
    ({ stdout: output } = await execFileAsync('ps', args, { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    throw new ShoalError('internal', `ps: ${(err as Error).message}`, { cause: err });
  }
  ctx.reply.json(200, parsePs(output, pids));
}

/** The update body's cgroup fields: the docker CLI sends every one, zero when not given (= unchanged). */
const UPDATE_RESOURCES = {
  Memory: 'memory',
  MemorySwap: 'memorySwap',
  MemoryReservation: 'memoryReservation',
  NanoCpus: 'nanoCpus',
  CpuShares: 'cpuShares',
  CpuPeriod: 'cpuPeriod',
  CpuQuota: 'cpuQuota',
  CpusetCpus: 'cpusetCpus',
  CpusetMems: 'cpusetMems',
} as const;

type UpdateBody = {
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
  PidsLimit?: number | null;
} & {
  [K in keyof typeof UPDATE_RESOURCES]?: number | string;
};

/** POST /containers/{id}/update: the restart policy and cgroup limits, live (docker update). */
async function update(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const raw = await ctx.readJson();
  const body = validateBody<UpdateBody>(containerUpdateSchema, raw);
  // Every other field (blkio, kernel memory, realtime cpu, devices …) is refused when set, never dropped.
  const known = new Set(['RestartPolicy', 'PidsLimit', ...Object.keys(UPDATE_RESOURCES)]);
  const set = Object.entries((raw ?? {}) as Record<string, unknown>).filter(
    ([k, v]) =>
      !known.has(k) &&
      v !== null &&
      v !== 0 &&
      v !== '' &&
      v !== false &&
      !(Array.isArray(v) && v.length === 0) &&
      !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0),
  );
  if (set.length > 0)
    throw badRequest(`invalid ${set[0][0]}: updating ${set.map(([k]) => k).join(', ')} is not supported`);
  const resources: ResourceOptions = {};
  for (const [field, opt] of Object.entries(UPDATE_RESOURCES) as [keyof typeof UPDATE_RESOURCES, string][]) {
    const v = body[field];
    if (v !== undefined && v !== 0 && v !== '') (resources as Record<string, unknown>)[opt] = v;
  }
  // Sent only when given: 0 and -1 both lift the limit.
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) resources.pidsLimit = body.PidsLimit;
  await deps.engine.update(resolveId(deps, ctx.params.id), {
    resources,
    // The docker CLI always sends RestartPolicy; an empty name means --restart was not given.
    restartPolicy: body.RestartPolicy?.Name
      ? {
          name: (body.RestartPolicy.Name ?? '') as RestartPolicyName,
          maximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0,
        }
      : undefined,
  });
  ctx.reply.json(200, { Warnings: [] });
}

function ok204(fn: (deps: ApiDeps, ctx: RequestContext) => Promise<void>) {
  return (deps: ApiDeps) => async (ctx: RequestContext) => {
    await fn(deps, ctx);
    ctx.reply.empty(204);
  };
}

export function registerContainers(router: Router, deps: ApiDeps): void {
  const statsCache = new Map<string, ContainerStats>();
  deps.engine.on('event', (e) => {
    if (e.action === 'destroy') statsCache.delete(e.id);
  });
  router
    .post('/containers/create', (ctx) => create(deps, ctx))
    .get('/containers/json', (ctx) => list(deps, ctx))
    .post('/containers/prune', (ctx) => prune(deps, ctx))
    .get('/containers/:id/json', (ctx) => {
      const c = deps.engine.inspect(ctx.params.id);
      ctx.reply.json(200, inspectJson(c, deps.network?.containerView(c.id)));
    })
    // 304 when there was nothing to do, as dockerd (the docker CLI prints the name either way).
    .post('/containers/:id/start', async (ctx) => {
      const started = await deps.engine.start(resolveId(deps, ctx.params.id));
      ctx.reply.empty(started ? 204 : 304);
    })
    .post('/containers/:id/stop', async (ctx) => {
      const stopped = await deps.engine.stop(resolveId(deps, ctx.params.id), {
        timeoutSec: queryInt(ctx.query, 't'),
        signal: ctx.query.get('signal') || undefined,
      });
      ctx.reply.empty(stopped ? 204 : 304);
    })
    .post(
      '/containers/:id/restart',
      ok204(async (d, ctx) =>
        d.engine.restart(resolveId(d, ctx.params.id), { timeoutSec: queryInt(ctx.query, 't') }),
      )(deps),
    )
    .post(
      '/containers/:id/kill',
      ok204(async (d, ctx) =>
        d.engine.kill(resolveId(d, ctx.params.id), ctx.query.get('signal') || undefined),
      )(deps),
    )
    .post('/containers/:id/pause', ok204(async (d, ctx) => d.engine.pause(resolveId(d, ctx.params.id)))(deps))
    .post(
      '/containers/:id/unpause',
      ok204(async (d, ctx) => d.engine.unpause(resolveId(d, ctx.params.id)))(deps),
    )
    .post(
      '/containers/:id/rename',
      ok204(async (d, ctx) => {
        const name = ctx.query.get('name');
        if (!name) throw badRequest('rename needs a new name: ?name=NEW');
        await d.engine.rename(resolveId(d, ctx.params.id), name);
      })(deps),
    )
    .post('/containers/:id/update', (ctx) => update(deps, ctx))
    .get('/containers/:id/top', (ctx) => top(deps, ctx))
    .post('/containers/:id/wait', (ctx) => wait(deps, ctx))
    .post('/containers/:id/attach', (ctx) => attach(deps, ctx))
    .get('/containers/:id/logs', (ctx) => logs(deps, ctx))
    .get('/containers/:id/stats', (ctx) => stats(deps, ctx, statsCache))
    .post('/containers/:id/resize', async (ctx) => {
      const h = queryInt(ctx.query, 'h') ?? 0;
      const w = queryInt(ctx.query, 'w') ?? 0;
      await deps.engine.resize(resolveId(deps, ctx.params.id), h, w);
      ctx.reply.empty(200);
    })
    .delete(
      '/containers/:id',
      ok204(async (d, ctx) =>
        d.engine.remove(resolveId(d, ctx.params.id), {
          force: queryBool(ctx.query, 'force'),
          removeVolumes: queryBool(ctx.query, 'v'),
        }),
      )(deps),
    );
}
