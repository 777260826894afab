// The allocator step between the orchestrator and the scheduler. There are no overlay networks, VIPs or
// ingress ports to allocate yet, so a NEW task needs nothing: it moves straight to PENDING ("pending task
// scheduling"), which is what the scheduler waits for. Leader only, as a ReconcileLoop.

import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { type LoopClock, ReconcileLoop } from '../orchestrator/loop.js';
import type { Store } from '../store/index.js';

export function passThroughAllocatorLoop(
  store: Store,
  options: { clock?: LoopClock; onError?: (err: unknown) => void } = {},
): ReconcileLoop {
  return new ReconcileLoop({
    name: 'allocator',
    store,
    tables: ['task'],
    decide: (view, now) => ({
      creates: [],
      updates: view
        .list('task')
        .filter(
          (t) =>
            t.status?.state === TaskState.TASK_STATE_NEW && t.desiredState <= TaskState.TASK_STATE_RUNNING,
        )
        .map((t) => ({
          ...t,
          status: {
            ...(t.status as NonNullable<Task['status']>),
            state: TaskState.TASK_STATE_PENDING,
            message: 'pending task scheduling',
            timestamp: now,
          },
        })),
      removes: [],
      removeServices: [],
      wakeAt: undefined,
    }),
    ...options,
  });
}
