// The allocator as a running component. Three ways to run it, all leader only and each the single writer of
// addresses (never run two at once):
// - pipelineLoop: the orchestrator's decisions, their allocations and their placement in one pass and one
//   commit (what shoald runs: a new task is created already ASSIGNED, two raft writes fewer per task than
//   three loops make; at 1,000 nodes each write is an entry's share on every manager and a watch event);
// - allocatingOrchestratorLoop: decisions and allocations, beside a schedulerLoop;
// - allocatorLoop: allocation alone, beside a plain orchestratorLoop and a schedulerLoop (swarmkit's shape).
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import { orchestrate } from '../orchestrator/orchestrate.js';
import { scopeIn } from '../orchestrator/scope.js';
import { isQuietTaskEvent, isStartingReport } from '../orchestrator/task.js';
import { keptLedger, wakesScheduler } from '../scheduler/runner.js';
import { scheduleWithin } from '../scheduler/schedule.js';
import type { Store, StoreEvent } from '../store/index.js';
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

export function pipelineLoop(store: Store, options: LoopOptions = {}): ReconcileLoop {
  const report = options.onError ?? ((e: unknown) => console.error('orchestrator:', e));
  const ledger = keptLedger(store, report);
  // Events the orchestrator acts on no rule for (noted as they are applied: whether one is quiet depends on
  // the state then). They wake the pass only for the scheduler and stay out of the orchestrator's scope.
  const quiet = new WeakSet<StoreEvent>();
  return new ReconcileLoop({
    name: 'orchestrator',
    store,
    tables: ['service', 'task', 'node', 'cluster', 'network'],
    decide: (view, now, changes, carry) => {
      const mine = changes?.filter((e) => !quiet.has(e));
      const scope = mine && scopeIn(view, mine);
      const allocated = allocate(view, orchestrate(view, now, store.newId, { scope, carry }), now, scope);
      const { decisions, unplaced } = scheduleWithin(view, now, ledger(), allocated);
      // Settled once every pending task is placed (the orchestrator's own rules always are): until then a
      // freed node or a dependency starting may let the scheduler place one, so every event wakes a pass.
      return { ...decisions, settled: unplaced === 0 };
    },
    wakesOn: (e) => {
      if (e.table !== 'task' || !store.view((v) => isQuietTaskEvent(e, v))) return true;
      quiet.add(e);
      return wakesScheduler(e);
    },
    ...options,
    onError: report,
  });
}
