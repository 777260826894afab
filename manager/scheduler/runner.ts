// The scheduler as a running component: schedule() in a ReconcileLoop over nodes and tasks.
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store } from '../store/index.js';
import { isSchedulable, schedule } from './schedule.js';

export function schedulerLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  return new ReconcileLoop({
    name: 'scheduler',
    store,
    tables: ['task', 'node', 'service'],
    decide: (view, now) => {
      const { updates, unplaced } = schedule(view, now);
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
