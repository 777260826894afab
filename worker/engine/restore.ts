// Live restore: on open, every record under dataRoot is loaded again; running containers get their
// monitors back, and those that exited while no manager ran are settled from exit.json.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type EngineContext, register } from './context.js';
import { monitorGone, onExit, watch } from './exits.js';
import { collectOrphanFiles } from './file-mounts.js';
import { startHealth } from './health-monitor.js';
import { rfc3339Nano, ZERO_TIME } from './state.js';
import { containerDir, loadRecords } from './store.js';

export async function restore(ctx: EngineContext): Promise<void> {
  const { records, orphans } = loadRecords(ctx.dataRoot);
  for (const id of orphans) {
    // A create that crashed half-way: remove whatever it left.
    await ctx.runtime.delete(id, true).catch(() => {});
    await rm(containerDir(ctx.dataRoot, id), { recursive: true, force: true });
  }
  const ids = new Set(records.map((r) => r.id));
  await collectOrphanFiles(ctx.filesRoot, (id) => ids.has(id));
  for (const rec of records) {
    const live = register(ctx, rec);
    if (!rec.runtimeCreated) {
      // Exit recorded but the daemon died before cleaning up the runtime state.
      if (existsSync(ctx.runtime.stateDir(rec.id))) await ctx.runtime.delete(rec.id, true).catch(() => {});
      await ctx.networking?.adopt(rec.id, false).catch(() => {});
      continue;
    }
    try {
      const st = await live.monitor.state();
      if (st.status === 'stopped') {
        // Exited while no manager ran: record it now, so open() returns a settled state.
        const exit = ctx.runtime.readExit(rec.id);
        if (exit) await onExit(ctx, live, exit);
        else watch(ctx, live); // exit.json is being written: the wait reply follows at once
        continue;
      }
      rec.state.status = st.status;
      rec.state.running = st.status === 'running' || st.status === 'paused';
      rec.state.paused = st.status === 'paused';
      rec.state.pid = st.pid;
      if (rec.state.running && rec.state.startedAt === ZERO_TIME)
        rec.state.startedAt = ctx.runtime.readStarted(rec.id) ?? rfc3339Nano(ctx.now());
      watch(ctx, live);
      // The container keeps its sandbox (veth, address, published ports) across the restart.
      await ctx.networking?.adopt(rec.id, rec.state.running).catch(() => {});
      if (rec.state.status === 'running') startHealth(ctx, live, true);
    } catch {
      // Unreachable (gone, or exiting right now): exit.json or a second look decides.
      await monitorGone(ctx, live);
    }
  }
}
