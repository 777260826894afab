// One slot of a service (replicated: a slot number; global: a node) brought to its desired state: one live
// task, replaced when it ended, its node was lost, or the updater picked it; left empty ("held") when the
// restart policy says so. Shared by the replicated and global orchestrators.
//
// A new task starts (desired RUNNING) only once no other task of its slot may still run — a task that is
// assigned, not ended, on a node not lost — so a slot never runs two tasks (stop-first updates, restarts);
// until then it is made desired READY (the worker may prepare it). The one exception is asked for: a
// start-first update keeps the old task until its replacement runs, so the slot is never left empty.
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { DecisionSet } from './decisions.js';
import { restartDelayMs, shouldRestart } from './restart.js';
import { taskTemplate } from './spec.js';
import {
  byAge,
  createdAt,
  endedByItself,
  isLive,
  isTerminal,
  newTask,
  nodeLost,
  sameSpec,
  withDesired,
} from './task.js';
import { isDirty } from './update.js';

export interface SlotContext {
  now: number;
  newId: () => string;
  out: DecisionSet;
  nodes: ReadonlyMap<string, Node>;
  /** Scale-up creations this pass may still make (MAX_CREATES_PER_PASS). */
  creates: { left: number };
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
  /** The update's order is start-first: a replaced task runs on until its replacement runs. */
  startFirst: boolean;
}

const RUNNING = TaskState.TASK_STATE_RUNNING;

/**
 * Asked to stop, but may still be running on its node (assigned, not known to have ended, its node not
 * lost): a new task of its slot waits for it.
 */
export function stopping(t: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (t.desiredState <= RUNNING) return false;
  const s = t.status?.state ?? 0;
  return (
    t.nodeId !== '' &&
    s >= TaskState.TASK_STATE_ASSIGNED &&
    s < TaskState.TASK_STATE_COMPLETE &&
    !nodeLost(nodes.get(t.nodeId))
  );
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
  const kept: Task[] = [];
  let failed: Task | undefined;
  let replace = false;
  let startNew = false;
  for (const t of live) {
    if (isTerminal(t)) {
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      failed = t;
    } else if (t.nodeId !== '' && nodeLost(ctx.nodes.get(t.nodeId))) {
      // The worker may come back: desired SHUTDOWN makes it stop this copy, so a slot never runs twice.
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
      replace = true;
    } else if (place.replaceNow.has(t.id) && place.canCreate) {
      if (place.startFirst) {
        kept.push(t);
        startNew = true;
      } else {
        out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
        replace = true;
      }
    } else {
      kept.push(t);
    }
  }

  if (startNew) {
    // Start-first: the replacement runs beside the old task, which goes once the replacement runs.
    out.create(newTask(service, { slot: place.slot, nodeId: place.nodeId }, ctx.newId(), ctx.now));
    return;
  }
  const dirty = (t: Task) => isDirty(service, t, ctx.nodes.get(t.nodeId));
  const keep = kept.filter((t) => !dirty(t)).at(-1) ?? kept.at(-1);
  if (keep) {
    // Two live copies: the newest of the service's spec stays. Older ones with another spec are a start-first
    // handoff: they run on until it runs.
    const handoff = keep.status?.state !== RUNNING && !dirty(keep);
    for (const t of kept) {
      if (t === keep || (handoff && dirty(t) && t.desiredState === RUNNING)) continue;
      out.update(withDesired(t, TaskState.TASK_STATE_SHUTDOWN));
    }
    promoteReady(ctx, keep, tasks);
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
  const waits = delayed || tasks.some((t) => stopping(out.current(t), ctx.nodes));
  const desired = waits ? TaskState.TASK_STATE_READY : RUNNING;
  const t = newTask(service, { slot: place.slot, nodeId: place.nodeId }, ctx.newId(), ctx.now, desired);
  out.create(t);
  if (delayed) ctx.out.wakeAt(ctx.now + restartDelayMs(t));
}

/**
 * A task made desired READY starts once no other task of its slot may run, and, when it restarts a task of
 * the same spec that ended by itself, once the restart delay has passed.
 */
function promoteReady(ctx: SlotContext, t: Task, tasks: readonly Task[]): void {
  if (t.desiredState !== TaskState.TASK_STATE_READY) return;
  if (tasks.some((o) => o.id !== t.id && stopping(ctx.out.current(o), ctx.nodes))) return; // woken by its report
  const before = [...tasks]
    .filter((o) => o.id !== t.id && byAge(o, t) < 0)
    .sort(byAge)
    .at(-1);
  const restart = before !== undefined && endedByItself(before) && sameSpec(before.spec, t.spec);
  const at = restart ? createdAt(t) + restartDelayMs(t) : 0;
  if (ctx.now >= at) ctx.out.update(withDesired(t, RUNNING));
  else ctx.out.wakeAt(at);
}
