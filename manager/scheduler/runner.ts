// The scheduler as a running component: schedule() in a ReconcileLoop over nodes and tasks, with a NodeLedger
// kept from the store's events. The ledger lives as long as the manager's store, on followers too: it hears
// every change through the store's observer (a few map operations per change), so a member that becomes leader
// places tasks at once instead of first counting every task (0.4–1.2 s at 100,000 tasks on a busy leader, in
// the very seconds it must show its followers it is alive). shoald places inside the orchestrator's pass
// instead (pipelineLoop in manager/allocator/runner.ts, with the same ledger); this loop is swarmkit's shape.
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store, StoreEvent } from '../store/index.js';
import { NodeLedger } from './ledger.js';
import { isSchedulable, schedule } from './schedule.js';

/**
 * The ledger of `store`, built now and kept current by the store's observer; a ledger that failed (a bug:
 * never a failed apply) is reported and built again at the next call. Call it inside a pass: the view
 * viewAndObserve reads is then the pass's own.
 */
export function keptLedger(store: Store, report: (err: unknown) => void): () => NodeLedger {
  let ledger: NodeLedger | undefined;
  const observe = (): NodeLedger => {
    const observed = store.viewAndObserve(
      (tx) => NodeLedger.of(tx, isSchedulable),
      (events) => observed.value.apply(events),
      (err) => {
        ledger = undefined;
        report(err);
      },
    );
    return observed.value;
  };
  ledger = observe();
  return () => {
    ledger ??= observe();
    return ledger;
  };
}

/** The events after which a settled scheduler (every pending task placed) may have work: a task becoming, or ceasing to be, pending. */
export const wakesScheduler = (e: StoreEvent): boolean =>
  e.table === 'task' && (isSchedulable(e.object) || (e.previous !== undefined && isSchedulable(e.previous)));

export function schedulerLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  const report = options.onError ?? ((e: unknown) => console.error('scheduler:', e));
  const ledger = keptLedger(store, report);
  return new ReconcileLoop({
    name: 'scheduler',
    store,
    tables: ['task', 'node', 'service'],
    decide: (view, now) => {
      const { updates, unplaced } = schedule(view, now, ledger());
      // Every pending task placed: only a task becoming (or ceasing to be) pending can give work until then.
      // Status reports, node heartbeats and service edits matter again once a task is left waiting (a freed
      // node, a dependency starting).
      return {
        creates: [],
        updates,
        removes: [],
        removeServices: [],
        wakeAt: undefined,
        settled: unplaced === 0,
      };
    },
    wakesOn: wakesScheduler,
    ...options,
  });
}
