// /volumes/* endpoints (API 1.41) over the engine's local volume driver.
import { parseVolumeFilters, type Volume } from '../../worker/engine/index.js';
import { queryBool } from '../http/query.js';
import type { RequestContext, Router } from '../http/router.js';
import type { ApiDeps } from './deps.js';
import { validateBody, volumeCreateSchema } from './schemas.js';

interface VolumeCreateBody {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** Docker's Volume object. */
export function volumeJson(v: Volume, usage?: { size: number; refCount: number }): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length > 0 ? v.options : null,
    Scope: 'local',
    ...(usage ? { UsageData: { Size: usage.size, RefCount: usage.refCount } } : {}),
  };
}

const PRUNE_FILTERS = new Set(['label', 'label!']);

async function create(deps: ApiDeps, ctx: RequestContext): Promise<void> {
  const body = validateBody<VolumeCreateBody>(volumeCreateSchema, await ctx.readJson());
  const { volume } = await deps.engine.volumes.create({
    name: body.Name || undefined,
    driver: body.Driver || undefined,
    driverOpts: body.DriverOpts,
    labels: body.Labels,
  });
  ctx.reply.json(201, volumeJson(volume));
}

export function registerVolumes(router: Router, deps: ApiDeps): void {
  const store = () => deps.engine.volumes;
  router
    .post('/volumes/create', (ctx) => create(deps, ctx))
    .get('/volumes', (ctx) => {
      const filters = parseVolumeFilters(ctx.query.get('filters'));
      ctx.reply.json(200, {
        Volumes: store()
          .list(filters)
          .map((v) => volumeJson(v)),
        Warnings: [],
      });
    })
    .get('/volumes/:name', (ctx) => ctx.reply.json(200, volumeJson(store().get(ctx.params.name))))
    .delete('/volumes/:name', async (ctx) => {
      await store().remove(ctx.params.name, { force: queryBool(ctx.query, 'force') });
      ctx.reply.empty(204);
    })
    .post('/volumes/prune', async (ctx) => {
      const filters = parseVolumeFilters(ctx.query.get('filters'), PRUNE_FILTERS);
      const { deleted, reclaimed } = await store().prune(filters);
      ctx.reply.json(200, { VolumesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed });
    });
}
