import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { nextSimState, SimExecutor } from './sim.js';
import type { StatusReport } from './types.js';

const S = TaskState;

/** A sim executor whose ticks run when the test says. */
function harness() {
  const due: (() => void)[] = [];
  const ex = new SimExecutor({ defer: (fn) => due.push(fn), now: () => 42 });
  const seen: StatusReport[] = [];
  ex.onStatus((r) => seen.push(r));
  const drain = () => {
    while (due.length > 0) (due.shift() as () => void)();
  };
  return {
    ex,
    seen,
    due,
    drain,
    states: (id: string) => seen.filter((r) => r.taskId === id).map((r) => r.status.state),
  };
}

const task = (id: string, desiredState: TaskState) => Task.fromPartial({ id, desiredState });

describe('nextSimState', () => {
  it('walks the worker states one at a time up to the desired one', () => {
    expect(nextSimState(undefined, S.TASK_STATE_RUNNING)).toBe(S.TASK_STATE_ACCEPTED);
    expect(nextSimState(S.TASK_STATE_ASSIGNED, S.TASK_STATE_RUNNING)).toBe(S.TASK_STATE_ACCEPTED);
    expect(nextSimState(S.TASK_STATE_ACCEPTED, S.TASK_STATE_RUNNING)).toBe(S.TASK_STATE_PREPARING);
    expect(nextSimState(S.TASK_STATE_READY, S.TASK_STATE_RUNNING)).toBe(S.TASK_STATE_STARTING);
    expect(nextSimState(S.TASK_STATE_STARTING, S.TASK_STATE_RUNNING)).toBe(S.TASK_STATE_RUNNING);
    expect(nextSimState(S.TASK_STATE_RUNNING, S.TASK_STATE_RUNNING)).toBeUndefined();
    expect(nextSimState(S.TASK_STATE_READY, S.TASK_STATE_READY)).toBeUndefined();
  });
  it('stops at SHUTDOWN when asked and never leaves a terminal state', () => {
    expect(nextSimState(S.TASK_STATE_RUNNING, S.TASK_STATE_SHUTDOWN)).toBe(S.TASK_STATE_SHUTDOWN);
    expect(nextSimState(undefined, S.TASK_STATE_REMOVE)).toBe(S.TASK_STATE_SHUTDOWN);
    expect(nextSimState(S.TASK_STATE_SHUTDOWN, S.TASK_STATE_RUNNING)).toBeUndefined();
    expect(nextSimState(S.TASK_STATE_FAILED, S.TASK_STATE_SHUTDOWN)).toBeUndefined();
  });
});

describe('SimExecutor', () => {
  it('reports every state from ACCEPTED to RUNNING, one per tick', () => {
    const h = harness();
    h.ex.run(task('t1', S.TASK_STATE_RUNNING));
    expect(h.seen).toEqual([]);
    h.due.shift()?.();
    expect(h.states('t1')).toEqual([S.TASK_STATE_ACCEPTED]);
    h.drain();
    expect(h.states('t1')).toEqual([
      S.TASK_STATE_ACCEPTED,
      S.TASK_STATE_PREPARING,
      S.TASK_STATE_READY,
      S.TASK_STATE_STARTING,
      S.TASK_STATE_RUNNING,
    ]);
    expect(h.seen.map((r) => r.status.message)).toEqual([
      'accepted',
      'preparing',
      'prepared',
      'starting',
      'started',
    ]);
    expect(h.ex.status('t1')?.state).toBe(S.TASK_STATE_RUNNING);
    expect(h.ex.count(S.TASK_STATE_RUNNING)).toBe(1);
  });

  it('holds a task desired READY at READY and starts it once desired RUNNING', () => {
    const h = harness();
    h.ex.run(task('t1', S.TASK_STATE_READY));
    h.drain();
    expect(h.states('t1').at(-1)).toBe(S.TASK_STATE_READY);
    h.ex.update(task('t1', S.TASK_STATE_RUNNING));
    h.drain();
    expect(h.states('t1').slice(-2)).toEqual([S.TASK_STATE_STARTING, S.TASK_STATE_RUNNING]);
  });

  it('shuts a task down (desired state, shutdown or remove) once, and forgets it on remove', async () => {
    const h = harness();
    h.ex.run(task('a', S.TASK_STATE_RUNNING));
    h.ex.run(task('b', S.TASK_STATE_RUNNING));
    h.drain();
    h.ex.update(task('a', S.TASK_STATE_SHUTDOWN));
    h.drain();
    await h.ex.shutdown('a');
    await h.ex.remove('b');
    expect(h.states('a').at(-1)).toBe(S.TASK_STATE_SHUTDOWN);
    expect(h.states('a').filter((s) => s === S.TASK_STATE_SHUTDOWN)).toHaveLength(1);
    expect(h.states('b').at(-1)).toBe(S.TASK_STATE_SHUTDOWN);
    expect(h.ex.list().map((x) => x.taskId)).toEqual(['a']);
  });

  it('reports SHUTDOWN for a task that arrives already told to stop, and nothing else', () => {
    const h = harness();
    h.ex.run(task('t1', S.TASK_STATE_SHUTDOWN));
    h.drain();
    expect(h.states('t1')).toEqual([S.TASK_STATE_SHUTDOWN]);
  });

  it('is idempotent: replaying a running task reports nothing new', () => {
    const h = harness();
    h.ex.run(task('t1', S.TASK_STATE_RUNNING));
    h.drain();
    const before = h.seen.length;
    h.ex.run(task('t1', S.TASK_STATE_RUNNING));
    h.drain();
    expect(h.seen.length).toBe(before);
  });

  it('adopts known tasks at their last status after a restart', async () => {
    const h = harness();
    const t = Task.fromPartial({
      id: 't1',
      desiredState: S.TASK_STATE_RUNNING,
      status: { state: S.TASK_STATE_RUNNING, timestamp: 1 },
    });
    const adopted = await h.ex.restore([t, task('new', S.TASK_STATE_RUNNING)]);
    expect(adopted.map((r) => [r.taskId, r.status.state])).toEqual([['t1', S.TASK_STATE_RUNNING]]);
    h.ex.run(t);
    h.drain();
    expect(h.seen).toEqual([]);
  });
});
