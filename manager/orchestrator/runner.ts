// The orchestrator as a running component: orchestrate() in a ReconcileLoop over services, tasks, nodes and
// the cluster object.
import type { Store } from '../store/index.js';
import { type LoopClock, ReconcileLoop } from './loop.js';
import { orchestrate } from './orchestrate.js';
import { scopeIn } from './scope.js';
import { isQuietTaskEvent } from './task.js';

export function orchestratorLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  return new ReconcileLoop({
    name: 'orchestrator',
    store,
    tables: ['service', 'task', 'node', 'cluster'],
    // settled always: only task events no rule acts on are skipped (isQuietTaskEvent)
    decide: (view, now, changes, carry) => ({
      ...orchestrate(view, now, store.newId, { scope: changes && scopeIn(view, changes), carry }),
      settled: true,
    }),
    wakesOn: (e) => e.table !== 'task' || !store.view((v) => isQuietTaskEvent(e, v)),
    ...options,
  });
}
