// The replicated orchestrator: `replicas` slots numbered 1..N, each with one live task. Scale-up fills the
// lowest free slot numbers; scale-down removes whole slots (desired REMOVE, then the reaper deletes them),
// choosing first slots with no live task, then those on the nodes holding the most copies of the service, not
// running before running, highest slot first (swarmkit's balance-preserving order).
import type { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { reconcileSlot, type SlotContext } from './slot.js';
import { byAge, isLive, newTask, nodeLost, withDesired } from './task.js';
import { planUpdate } from './update.js';

interface SlotInfo {
  slot: number;
  tasks: Task[];
  /** The newest live task, if any. */
  live: Task | undefined;
}

export function reconcileReplicated(
  ctx: SlotContext,
  service: Service,
  tasks: readonly Task[],
  replicas: number,
): void {
  const bySlot = new Map<number, Task[]>();
  for (const t of tasks) {
    if (t.slot <= 0) continue;
    const list = bySlot.get(t.slot);
    if (list) list.push(t);
    else bySlot.set(t.slot, [t]);
  }
  // A slot is in use while any of its tasks is not being removed.
  const used: SlotInfo[] = [];
  for (const [slot, list] of [...bySlot].sort((a, b) => a[0] - b[0])) {
    if (!list.some((t) => t.desiredState < TaskState.TASK_STATE_REMOVE)) continue;
    used.push({ slot, tasks: list, live: list.filter(isLive).sort(byAge).at(-1) });
  }

  let kept = used;
  if (used.length > replicas) {
    const drop = removalOrder(ctx, used).slice(0, used.length - replicas);
    const dropped = new Set(drop.map((s) => s.slot));
    for (const s of drop) {
      for (const t of s.tasks) {
        if (t.desiredState < TaskState.TASK_STATE_REMOVE)
          ctx.out.update(withDesired(t, TaskState.TASK_STATE_REMOVE));
      }
    }
    kept = used.filter((s) => !dropped.has(s.slot));
  }

  const { replaceNow, startFirst } = planUpdate(service, kept, ctx);
  for (const s of kept) {
    reconcileSlot(ctx, service, s.tasks, {
      slot: s.slot,
      nodeId: '',
      canCreate: true,
      replaceNow,
      startFirst,
    });
  }

  const taken = new Set(kept.map((s) => s.slot));
  growReplicated(ctx, service, replicas - kept.length, taken);
}

/**
 * Creates `missing` tasks in the lowest slot numbers not taken, as many as the pass may still make; if that
 * is not all, the pass says so (DecisionSet.grow) and the next one goes on from there.
 */
export function growReplicated(
  ctx: SlotContext,
  service: Service,
  missing: number,
  taken: Set<number>,
): void {
  const n = Math.min(missing, ctx.creates.left);
  ctx.creates.left -= n;
  let slot = 0;
  for (let i = 0; i < n; i++) {
    do slot++;
    while (taken.has(slot));
    taken.add(slot);
    ctx.out.create(newTask(service, { slot, nodeId: '' }, ctx.newId(), ctx.now));
  }
  if (n < missing) ctx.out.grow(service.id, { version: service.meta?.version ?? 0, taken });
}

const NOTHING_TO_REPLACE: ReadonlySet<string> = new Set();

/**
 * One slot of a replicated service with no rollout in progress, reconciled alone (a scoped pass): what the
 * whole-service pass decides for it when only its tasks changed. A slot no longer in use is left to the reaper.
 */
export function reconcileReplicatedSlot(ctx: SlotContext, service: Service, tasks: readonly Task[]): void {
  const slot = tasks[0]?.slot ?? 0;
  if (slot <= 0 || !tasks.some((t) => t.desiredState < TaskState.TASK_STATE_REMOVE)) return;
  reconcileSlot(ctx, service, tasks, {
    slot,
    nodeId: '',
    canCreate: true,
    replaceNow: NOTHING_TO_REPLACE,
    startFirst: false,
  });
}

/** Slots in the order scale-down removes them. */
function removalOrder(ctx: SlotContext, slots: readonly SlotInfo[]): SlotInfo[] {
  const running = (s: SlotInfo) => s.live?.status?.state === TaskState.TASK_STATE_RUNNING;
  // Number each live task as the nth copy on its node, running ones first, so the extra copies get the highest.
  const nth = new Map<number, number>();
  const perNode = new Map<string, number>();
  const numbering = [...slots].sort((a, b) => Number(running(b)) - Number(running(a)) || a.slot - b.slot);
  for (const s of numbering) {
    const node = s.live?.nodeId;
    if (!s.live || !node || nodeLost(ctx.nodes.get(node))) {
      nth.set(s.slot, Number.MAX_SAFE_INTEGER);
      continue;
    }
    const n = (perNode.get(node) ?? 0) + 1;
    perNode.set(node, n);
    nth.set(s.slot, n);
  }
  return [...slots].sort(
    (a, b) =>
      Number(a.live !== undefined) - Number(b.live !== undefined) ||
      (nth.get(b.slot) ?? 0) - (nth.get(a.slot) ?? 0) ||
      Number(running(a)) - Number(running(b)) ||
      b.slot - a.slot,
  );
}
