// The allocator as a running component. Two ways to run it, both leader only and both the single writer of
// addresses (never run both at once):
// - allocatingOrchestratorLoop: the orchestrator's decisions and their allocations in one pass and one
//   commit (what shoald runs: a new task is created already PENDING, one Raft round trip fewer);
// - allocatorLoop: allocation alone, beside a plain orchestratorLoop (tests, and swarmkit's shape).
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import { orchestrate } from '../orchestrator/orchestrate.js';
import { scopeIn } from '../orchestrator/scope.js';
import { isQuietTaskEvent, isStartingReport } from '../orchestrator/task.js';
import type { Store } from '../store/index.js';
import { allocate } from './allocate.js';

interface LoopOptions {
  clock?: LoopClock;
  onError?: (err: unknown) => void;
}

export function allocatorLoop(store: Store, options: LoopOptions = {}): ReconcileLoop {
  return new ReconcileLoop({
    name: 'allocator',
    store,
    tables: ['task', 'service', 'network', 'node'],
    decide: (view, now) => ({ ...allocate(view, undefined, now), settled: true }),
    wakesOn: (e) => !isStartingReport(e),
    ...options,
  });
}

export function allocatingOrchestratorLoop(store: Store, options: LoopOptions = {}): ReconcileLoop {
  return new ReconcileLoop({
    name: 'orchestrator',
    store,
    tables: ['service', 'task', 'node', 'cluster', 'network'],
    // settled always: only task events no rule acts on are skipped (isQuietTaskEvent)
    decide: (view, now, changes, carry) => {
      const scope = changes && scopeIn(view, changes);
      return {
        ...allocate(view, orchestrate(view, now, store.newId, { scope, carry }), now, scope),
        settled: true,
      };
    },
    wakesOn: (e) => e.table !== 'task' || !store.view((v) => isQuietTaskEvent(e, v)),
    ...options,
  });
}
