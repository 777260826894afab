// GET /system/df: what images, containers and volumes take on disk, as dockerd reports it (the docker CLI's
// `system df` sums and judges what is reclaimable from these lists).
import { treeSize } from '../../worker/engine/index.js';
import type { Router } from '../http/router.js';
import { listEntryJson } from './containers/translate.js';
import type { ApiDeps } from './deps.js';
import { imageSummaryJson } from './images.js';
import { volumeJson } from './volumes.js';

export function registerDiskUsage(router: Router, deps: ApiDeps): void {
  router.get('/system/df', async (ctx) => {
    const containers = deps.engine.list({ all: true });
    const store = deps.imageStore;
    const images = store ? await store.list() : [];
    const usage = store ? await store.diskUsage() : { layersSize: 0, sharedSize: new Map() };
    const now = deps.now();
    const containerJson = [];
    for (const c of containers) {
      const sizeRw = await deps.engine.writableSize(c.id);
      const image = images.find((i) => i.id === c.imageId);
      containerJson.push({
        ...listEntryJson(c, now),
        SizeRw: sizeRw,
        SizeRootFs: sizeRw + (image?.size ?? 0),
      });
    }
    const volumes = [];
    for (const v of deps.engine.volumes.list())
      volumes.push(
        volumeJson(v, {
          size: await treeSize(v.mountpoint),
          refCount: deps.engine.volumes.usersOf(v.name).length,
        }),
      );
    ctx.reply.json(200, {
      LayersSize: usage.layersSize,
      Images: images.map((i) =>
        imageSummaryJson(i, {
          containers: containers.filter((c) => c.imageId === i.id).length,
          sharedSize: usage.sharedSize.get(i.id) ?? 0,
        }),
      ),
      Containers: containerJson,
      Volumes: volumes,
      BuildCache: [],
    });
  });
}
