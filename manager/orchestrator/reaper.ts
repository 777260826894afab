// The task reaper: deletes tasks that are done with. A task desired REMOVE (scale-down, service removal) is
// deleted once it has stopped, never started, or its node is gone or down (nothing will report it again). Old
// tasks of a slot (per node for global services) beyond the cluster's task_history_retention_limit (default 5,
// counting the live one; negative keeps all; at least max_attempts+1 when the restart policy counts attempts)
// are deleted oldest first. A service marked pending_delete is deleted once it has no task left.
import type { Cluster, Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { DecisionSet } from './decisions.js';
import { restartPolicyOf, taskTemplate } from './spec.js';
import { byAge, historyLimit, isLive, isTerminal, nodeLost } from './task.js';

/** Stopped, or will never run: it can go once nobody wants it. */
const finished = (t: Task, nodes: ReadonlyMap<string, Node>): boolean =>
  isTerminal(t) ||
  (t.status?.state ?? 0) < TaskState.TASK_STATE_ASSIGNED ||
  t.nodeId === '' ||
  nodeLost(nodes.get(t.nodeId));

export function reapTasks(
  out: DecisionSet,
  service: Service | undefined,
  tasks: readonly Task[],
  nodes: ReadonlyMap<string, Node>,
  cluster: Cluster | undefined,
): void {
  const keep: Task[] = [];
  for (const t of tasks) {
    if (!out.touched(t.id) && t.desiredState >= TaskState.TASK_STATE_REMOVE && finished(t, nodes))
      out.remove(t);
    else keep.push(t);
  }
  if (!service) return;

  let limit = historyLimit(cluster);
  if (limit < 0) return;
  const maxAttempts = restartPolicyOf(taskTemplate(service))?.maxAttempts ?? 0;
  if (maxAttempts > 0) limit = Math.max(limit, maxAttempts + 1);

  // by slot, or by node for global services (two maps: no key string made per task of every pass)
  const bySlot = new Map<number, Task[]>();
  const byNode = new Map<string, Task[]>();
  for (const t of keep) {
    const g = t.slot > 0 ? bySlot.get(t.slot) : byNode.get(t.nodeId);
    if (g) g.push(t);
    else if (t.slot > 0) bySlot.set(t.slot, [t]);
    else byNode.set(t.nodeId, [t]);
  }
  const trim = (g: Task[]) => {
    let excess = g.length - limit;
    if (excess <= 0) return;
    for (const t of g.sort(byAge)) {
      if (excess === 0) break;
      if (out.touched(t.id) || isLive(t) || !finished(t, nodes)) continue;
      out.remove(t);
      excess--;
    }
  };
  for (const g of bySlot.values()) trim(g);
  for (const g of byNode.values()) trim(g);
}
