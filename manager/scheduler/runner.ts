// The scheduler as a running component: schedule() in a ReconcileLoop over nodes and tasks.
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store } from '../store/index.js';
import { schedule } from './schedule.js';

export function schedulerLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  return new ReconcileLoop({
    name: 'scheduler',
    store,
    tables: ['task', 'node', 'service'],
    decide: (view, now) => ({
      creates: [],
      updates: schedule(view, now).updates,
      removes: [],
      removeServices: [],
      wakeAt: undefined,
    }),
    ...options,
  });
}
