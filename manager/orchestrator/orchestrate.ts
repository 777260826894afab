// The orchestrator's decision: what tasks should exist for every service, as a pure function of a store view,
// the time and an id generator. The runner commits the result; running it again on the resulting state
// decides nothing more (a fixpoint), which is what lets a new leader resume from the store alone.
import type { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isAttachment } from '../allocator/attachments.js';
import type { ReadTx } from '../store/index.js';
import { DecisionSet, type Decisions } from './decisions.js';
import { reconcileGlobal } from './global.js';
import { reapTasks } from './reaper.js';
import { reconcileReplicated } from './replicated.js';
import type { SlotContext } from './slot.js';
import { withDesired } from './task.js';

export function orchestrate(view: ReadTx, now: number, newId: () => string): Decisions {
  const out = new DecisionSet();
  const nodes = new Map<string, Node>(view.list('node').map((n) => [n.id, n]));
  const cluster = view.list('cluster')[0];
  const ctx: SlotContext = { now, newId, out, nodes };

  const byService = new Map<string, Task[]>();
  for (const t of view.list('task')) {
    const list = byService.get(t.serviceId);
    if (list) list.push(t);
    else byService.set(t.serviceId, [t]);
  }

  for (const service of view.list('service')) {
    const tasks = byService.get(service.id) ?? [];
    byService.delete(service.id);
    const mode = service.spec?.mode;
    if (service.pendingDelete) {
      for (const t of tasks)
        if (t.desiredState < TaskState.TASK_STATE_REMOVE)
          out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
      reapTasks(out, undefined, tasks, nodes, cluster);
      if (tasks.length === 0) out.removeService(service);
      continue;
    }
    if (mode?.$case === 'replicated') reconcileReplicated(ctx, service, tasks, mode.value.replicas);
    else if (mode?.$case === 'global') reconcileGlobal(ctx, service, tasks);
    reapTasks(out, service, tasks, nodes, cluster);
  }

  // Tasks whose service is gone: removed like a deleted service's. Network attachments have none: they
  // stay until their container leaves the network (the dispatcher deletes them) or their node is removed.
  for (const all of byService.values()) {
    const tasks: Task[] = [];
    for (const t of all)
      if (!isAttachment(t)) tasks.push(t);
      else if (!nodes.has(t.nodeId)) out.remove(t);
    for (const t of tasks)
      if (t.desiredState < TaskState.TASK_STATE_REMOVE)
        out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
    reapTasks(out, undefined, tasks, nodes, cluster);
  }
  return out.result();
}
