// The Engine API's registration table: one module per resource. To add a resource, write
// `daemon/api/<resource>.ts` exporting `register<Resource>(router, deps)` and add it to the list.
// A module may be async (to open a store under deps.config.dataRoot) and may fill in optional
// services on `deps` for other modules, e.g. the images module sets `deps.images` so that
// container create can resolve IMAGE references.
import type { Router } from '../http/router.js';
import { registerBuild } from './build.js';
import { registerCommit } from './commit.js';
import { registerArchive } from './containers/archive.js';
import { registerContainers } from './containers/routes.js';
import type { ApiDeps } from './deps.js';
import { registerDiskUsage } from './disk-usage.js';
import { registerEvents } from './events.js';
import { registerExec } from './exec/routes.js';
import { registerImages } from './images.js';
import { registerNetworks } from './networks.js';
import { registerSwarm } from './swarm/routes.js';
import { registerSystem } from './system.js';
import { registerVolumes } from './volumes.js';

export type ApiModule = (router: Router, deps: ApiDeps) => void | Promise<void>;

export const apiModules: ApiModule[] = [
  registerSystem,
  registerContainers,
  registerExec,
  registerEvents,
  registerImages,
  registerVolumes,
  registerDiskUsage, // after images: it reads the store that module opens
  registerBuild,
  registerCommit, // after images: it shares the store that module opens
  registerArchive,
  registerNetworks,
  (router, deps) => {
    if (deps.swarm) registerSwarm(router, deps.swarm);
  },
];

export async function registerAll(router: Router, deps: ApiDeps): Promise<void> {
  for (const register of apiModules) await register(router, deps);
}
