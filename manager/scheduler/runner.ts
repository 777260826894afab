// The scheduler as a running component: schedule() in a ReconcileLoop over nodes and tasks, with a NodeLedger
// kept from the store's events between passes: built at the first pass after the loop starts (this member
// became leader) and dropped when it stops. It hears every change through the store's observer, whatever the
// loop's own watch skips or drops, so a pass over everything does not need a new one (at 100,000 tasks a
// rebuild is ~0.3 s, and while tasks wait every status report counts as a change: passes over everything
// come often then).
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store } from '../store/index.js';
import { NodeLedger } from './ledger.js';
import { isSchedulable, schedule } from './schedule.js';

export function schedulerLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  let ledger: { value: NodeLedger; stop: () => void } | undefined;
  const forget = () => {
    ledger?.stop();
    ledger = undefined;
  };
  return new ReconcileLoop({
    name: 'scheduler',
    store,
    tables: ['task', 'node', 'service'],
    decide: (view, now) => {
      if (!ledger) {
        // Inside this synchronous pass: the view store.viewAndObserve reads is this pass's view.
        const l = store.viewAndObserve(
          (tx) => NodeLedger.of(tx, isSchedulable),
          (events) => l.value.apply(events),
        );
        ledger = l;
      }
      const { updates, unplaced } = schedule(view, now, ledger.value);
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
    stopped: forget,
    ...options,
  });
}
