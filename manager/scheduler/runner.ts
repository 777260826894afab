// The scheduler as a running component: schedule() in a ReconcileLoop over nodes and tasks, with a NodeLedger
// kept from the store's events. The ledger lives as long as the manager's store, on followers too: it hears
// every change through the store's observer (a few map operations per change), so a member that becomes leader
// places tasks at once instead of first counting every task (0.4–1.2 s at 100,000 tasks on a busy leader, in
// the very seconds it must show its followers it is alive).
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store } from '../store/index.js';
import { NodeLedger } from './ledger.js';
import { isSchedulable, schedule } from './schedule.js';

export function schedulerLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  const report = options.onError ?? ((e: unknown) => console.error('scheduler:', e));
  let ledger: NodeLedger | undefined;
  // Called inside a pass (or here): the view viewAndObserve reads is the pass's own.
  const observe = (): NodeLedger => {
    const observed = store.viewAndObserve(
      (tx) => NodeLedger.of(tx, isSchedulable),
      (events) => observed.value.apply(events),
      (err) => {
        // A bug in the ledger: never a failed apply; the next pass counts everything again.
        ledger = undefined;
        report(err);
      },
    );
    return observed.value;
  };
  ledger = observe();
  return new ReconcileLoop({
    name: 'scheduler',
    store,
    tables: ['task', 'node', 'service'],
    decide: (view, now) => {
      ledger ??= observe();
      const { updates, unplaced } = schedule(view, now, ledger);
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
    wakesOn: (e) =>
      e.table === 'task' &&
      (isSchedulable(e.object) || (e.previous !== undefined && isSchedulable(e.previous))),
    ...options,
  });
}
