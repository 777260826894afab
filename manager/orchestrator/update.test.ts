// planUpdate: the rolling update's pace (parallelism, delay), from the update config or, during a
// rollback, the rollback config.
import { describe, expect, it } from 'vitest';
import { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState, UpdateState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { DecisionSet } from './decisions.js';
import { planUpdate } from './update.js';

const NOW = 1_000_000;

function svc(parallelism: number, delayS = 0, rollback?: { parallelism: number }): Service {
  return Service.fromPartial({
    id: 's',
    meta: { version: 7 },
    spec: {
      updateConfig: { parallelism, delay: { seconds: delayS, nanos: 0 } },
      rollbackConfig: rollback ?? { parallelism: 0 },
    },
    updateStatus: rollback ? { state: UpdateState.UPDATE_STATE_ROLLBACK_STARTED } : undefined,
  });
}

const task = (id: string, slot: number, state: TaskState, version: number, at = NOW - 60_000): Task =>
  Task.fromPartial({
    id,
    slot,
    serviceVersion: version,
    desiredState: TaskState.TASK_STATE_RUNNING,
    status: { state, timestamp: at },
  });

const ids = (ts: readonly Task[]) => ts.map((t) => t.id);

describe('planUpdate', () => {
  const old = [1, 2, 3, 4].map((i) => task(`old${i}`, i, TaskState.TASK_STATE_RUNNING, 6));

  it('replaces `parallelism` tasks at a time, lowest slots first; 0 means all at once', () => {
    const ctx = { now: NOW, out: new DecisionSet() };
    expect(ids(planUpdate(svc(1), old, old, ctx))).toEqual(['old1']);
    expect(ids(planUpdate(svc(3), [...old].reverse(), old, ctx))).toEqual(['old1', 'old2', 'old3']);
    expect(ids(planUpdate(svc(0), old, old, ctx))).toEqual(ids(old));
  });

  it('waits while replacements are starting', () => {
    const ctx = { now: NOW, out: new DecisionSet() };
    const starting = task('new1', 1, TaskState.TASK_STATE_PREPARING, 7);
    const rest = old.slice(1);
    expect(planUpdate(svc(1), rest, [starting, ...rest], ctx)).toEqual([]);
    expect(ids(planUpdate(svc(2), rest, [starting, ...rest], ctx))).toEqual(['old2']);
    const up = task('new1', 1, TaskState.TASK_STATE_RUNNING, 7);
    expect(ids(planUpdate(svc(1), rest, [up, ...rest], ctx))).toEqual(['old2']);
  });

  it('waits `delay` after the last replacement came up, and asks to be woken then', () => {
    const out = new DecisionSet();
    const up = task('new1', 1, TaskState.TASK_STATE_RUNNING, 7, NOW - 1000);
    const rest = old.slice(1);
    expect(planUpdate(svc(1, 5), rest, [up, ...rest], { now: NOW, out })).toEqual([]);
    expect(out.result().wakeAt).toBe(NOW + 4000);
    expect(ids(planUpdate(svc(1, 5), rest, [up, ...rest], { now: NOW + 4000, out }))).toEqual(['old2']);
  });

  it('a rollback goes at the rollback config’s pace', () => {
    const ctx = { now: NOW, out: new DecisionSet() };
    expect(ids(planUpdate(svc(1, 0, { parallelism: 2 }), old, old, ctx))).toEqual(['old1', 'old2']);
  });
});
