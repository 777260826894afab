// `docker update` of one container: the restart policy, and cgroup limits applied to the live container at
// once (through the runtime's `update`) and kept for its next start (config.json and the record).
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type EngineContext, isRunning, type Live, locked, persist, specOf } from './context.js';
import { InvalidArgumentError } from './errors.js';
import { onlineCpus } from './host.js';
import { parseRestartPolicy } from './restart-policy.js';
import { RESOURCE_FIELDS, type ResourceOptions, resourcesSpec } from './spec/build.js';
import type { OciSpec } from './spec/defaults.js';
import { writeFileAtomic } from './store.js';
import type { RestartPolicy } from './types.js';

export interface UpdateOptions {
  restartPolicy?: RestartPolicy;
  /** Only the fields given change; checked as at create, and nothing changes when one is refused. */
  resources?: ResourceOptions;
}

/**
 * `docker update`: the restart policy, and cgroup limits applied to the live container at once (through
 * the runtime's `update`) and kept for its next start (config.json and the record). Checked as at
 * create; nothing changes when a value is refused.
 */
export async function updateContainer(ctx: EngineContext, live: Live, opts: UpdateOptions): Promise<void> {
  await locked(live, async () => {
    const rec = live.rec;
    const policy = opts.restartPolicy === undefined ? undefined : parseRestartPolicy(opts.restartPolicy);
    if (policy && rec.hostConfig.autoRemove && policy.name !== 'no')
      throw new InvalidArgumentError(
        'restartPolicy',
        'Restart policy cannot be updated because AutoRemove is enabled for the container',
      );
    const given = opts.resources ?? {};
    if (Object.keys(given).length > 0) {
      const current = Object.fromEntries(
        RESOURCE_FIELDS.map((k) => [k, rec.hostConfig[k]]),
      ) as ResourceOptions;
      // --cpus replaces a quota/period and the reverse, as docker's update does.
      if (given.nanoCpus !== undefined || given.cpus !== undefined) {
        current.cpuQuota = undefined;
        current.cpuPeriod = undefined;
        current.cpus = undefined;
      }
      if (given.cpuQuota !== undefined || given.cpuPeriod !== undefined) current.nanoCpus = undefined;
      const { resources, norm } = resourcesSpec({ ...current, ...given }, onlineCpus());
      // Limits lifted: written as "unlimited", since an absent field leaves the cgroup as it is.
      if (given.pidsLimit !== undefined && !resources.pids) resources.pids = { limit: -1 };
      if ((given.nanoCpus !== undefined || given.cpuQuota !== undefined) && !resources.cpu?.quota)
        resources.cpu = { ...resources.cpu, quota: -1 };
      const spec = specOf(live);
      if (isRunning(live) || rec.state.status === 'created' || rec.state.status === 'paused') {
        const file = join(rec.bundle, 'resources.json');
        await writeFile(file, JSON.stringify(resources));
        try {
          await ctx.runtime.update(rec.id, file);
        } finally {
          await rm(file, { force: true });
        }
      }
      const next: OciSpec = structuredClone(spec);
      const lr = next.linux?.resources ?? {};
      next.linux = { ...next.linux, resources: { devices: lr.devices, ...resources } };
      await writeFileAtomic(join(rec.bundle, 'config.json'), JSON.stringify(next, null, 1), false);
      live.spec = next;
      for (const k of RESOURCE_FIELDS) delete rec.hostConfig[k];
      Object.assign(rec.hostConfig, norm);
    }
    if (policy) rec.hostConfig.restartPolicy = policy;
    await persist(ctx, live);
    ctx.emitEvent('update', rec);
  });
}
