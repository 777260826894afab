// The Engine API's registration table: one module per resource. To add a resource, write
// `daemon/api/<resource>.ts` exporting `register<Resource>(router, deps)` and add one line below.
import type { Router } from '../http/router.js';
import { registerContainers } from './containers/routes.js';
import type { ApiDeps } from './deps.js';
import { registerExec } from './exec/routes.js';
import { registerSystem } from './system.js';

export type ApiModule = (router: Router, deps: ApiDeps) => void;

export const apiModules: ApiModule[] = [registerSystem, registerContainers, registerExec];

export function registerAll(router: Router, deps: ApiDeps): void {
  for (const register of apiModules) register(router, deps);
}
