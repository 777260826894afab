// One slot of a service (replicated: a slot number; global: a node) brought to its desired state: at most one
// live task, replaced when it ended, its node was lost, or the service spec changed; left empty ("held") when
// the restart policy says so. Shared by the replicated and global orchestrators.
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { DecisionSet } from './decisions.js';
import { restartDelayMs, shouldRestart, startAt } from './restart.js';
import { taskTemplate } from './spec.js';
import {
  byAge,
  endedByItself,
  isLive,
  isTerminal,
  newTask,
  nodeLost,
  sameSpec,
  withDesired,
} from './task.js';

export interface SlotContext {
  now: number;
  newId: () => string;
  out: DecisionSet;
  nodes: ReadonlyMap<string, Node>;
}

export interface SlotPlace {
  /** 1..N for replicated services, 0 for global ones. */
  slot: number;
  /** '' for replicated services (the scheduler picks), the node for global ones. */
  nodeId: string;
  /** Whether a new task may be made here now (global: the node is ready, active and matches). */
  canCreate: boolean;
  /** Dirty tasks the updater replaces in this pass. */
  replaceNow: ReadonlySet<string>;
}

/** Reconciles one slot's tasks (every task of the slot, history included). */
export function reconcileSlot(
  ctx: SlotContext,
  service: Service,
  tasks: readonly Task[],
  place: SlotPlace,
): void {
  const { out } = ctx;
  const live = tasks.filter(isLive).sort(byAge);
  let keep: Task | undefined;
  let failed: Task | undefined;
  let replace = false;
  for (const t of live) {
    if (isTerminal(t)) {
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      failed = t;
    } else if (t.nodeId !== '' && nodeLost(ctx.nodes.get(t.nodeId))) {
      // The worker may come back: desired SHUTDOWN makes it stop this copy, so a slot never runs twice.
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      replace = true;
    } else if (place.replaceNow.has(t.id) && place.canCreate) {
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      replace = true;
    } else {
      // Two live copies (an interrupted replacement): the newest stays.
      if (keep) out.update(withDesired(keep, TaskState.TASK_STATE_SHUTDOWN));
      keep = t;
    }
  }
  if (keep) {
    promoteDelayed(ctx, keep);
    return;
  }
  if (!place.canCreate) return;

  const last = [...tasks].sort(byAge).at(-1);
  let delayed = false;
  if (
    !replace &&
    last &&
    (last === failed || endedByItself(last)) &&
    sameSpec(last.spec, taskTemplate(service))
  ) {
    if (!shouldRestart(last, tasks)) return; // held: the slot stays as the policy left it
    delayed = restartDelayMs(last) > 0;
  }
  const desired = delayed ? TaskState.TASK_STATE_READY : TaskState.TASK_STATE_RUNNING;
  const t = newTask(service, { slot: place.slot, nodeId: place.nodeId }, ctx.newId(), ctx.now, desired);
  out.create(t);
  if (delayed) ctx.out.wakeAt(ctx.now + restartDelayMs(t));
}

/** A delayed restart becomes RUNNING once its delay is over. */
function promoteDelayed(ctx: SlotContext, t: Task): void {
  if (t.desiredState !== TaskState.TASK_STATE_READY) return;
  const at = startAt(t);
  if (ctx.now >= at) ctx.out.update(withDesired(t, TaskState.TASK_STATE_RUNNING));
  else ctx.out.wakeAt(at);
}
