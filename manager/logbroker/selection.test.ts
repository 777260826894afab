import { describe, expect, it } from 'vitest';
import { Node, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeState, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { hasLogs, planReads, selects, selectTasks, taskRead, unreachableReason } from './selection.js';

const task = (id: string, serviceId: string, slot: number, nodeId: string, state: TaskState) =>
  Task.fromPartial({ id, serviceId, slot, nodeId, status: { state } });
const node = (id: string, hostname: string, state = NodeState.NODE_STATE_READY, message = '') =>
  Node.fromPartial({ id, description: { hostname }, status: { state, message } });

const { TASK_STATE_PENDING, TASK_STATE_ASSIGNED, TASK_STATE_READY, TASK_STATE_RUNNING, TASK_STATE_SHUTDOWN } =
  TaskState;

describe('log subscription selection', () => {
  const tasks = [
    task('t3', 's1', 2, 'n2', TASK_STATE_RUNNING),
    task('t1', 's1', 1, 'n1', TASK_STATE_RUNNING),
    task('t0', 's1', 1, 'n3', TASK_STATE_SHUTDOWN), // an older task of slot 1: its container may still be there
    task('t4', 's1', 3, '', TASK_STATE_PENDING), // not placed: no logs
    task('t5', 's1', 4, 'n1', TASK_STATE_ASSIGNED), // placed, no container yet
    task('t6', 's2', 1, 'n1', TASK_STATE_RUNNING), // another service
  ];

  it('a service selects its tasks that have a container, by slot; a task id selects that task', () => {
    expect(selectTasks(tasks, { serviceIds: ['s1'], taskIds: [] }).map((t) => t.id)).toEqual([
      't1',
      't0',
      't3',
    ]);
    expect(selectTasks(tasks, { serviceIds: [], taskIds: ['t6'] }).map((t) => t.id)).toEqual(['t6']);
    expect(selectTasks(tasks, { serviceIds: [], taskIds: ['t4'] })).toEqual([]);
    expect(selectTasks(tasks, { serviceIds: ['nope'], taskIds: [] })).toEqual([]);
  });

  it('a task has logs once READY on a node', () => {
    expect(hasLogs(task('a', 's', 1, 'n1', TASK_STATE_READY))).toBe(true);
    expect(hasLogs(task('a', 's', 1, 'n1', TASK_STATE_ASSIGNED))).toBe(false);
    expect(hasLogs(task('a', 's', 1, '', TASK_STATE_RUNNING))).toBe(false);
    expect(selects({ serviceIds: ['s'], taskIds: [] }, task('a', 's', 1, '', TaskState.TASK_STATE_NEW))).toBe(
      true,
    );
    expect(selects({ serviceIds: [], taskIds: ['b'] }, task('a', 's', 1, '', TaskState.TASK_STATE_NEW))).toBe(
      false,
    );
  });

  it('splits the reads by node; tasks of a node without a session are missing, with why', () => {
    const nodes = new Map([
      ['n1', node('n1', 'host1')],
      ['n2', node('n2', 'host2', NodeState.NODE_STATE_DOWN, 'heartbeat failure')],
    ]);
    const plan = planReads(
      selectTasks(tasks, { serviceIds: ['s1'], taskIds: [] }),
      (id) => id === 'n1',
      (id) => nodes.get(id),
    );
    expect([...plan.reads].map(([n, ts]) => [n, ts.map((t) => t.id)])).toEqual([['n1', ['t1']]]);
    expect(plan.missing.map((m) => [m.task.id, m.reason])).toEqual([
      ['t0', 'node n3 is no longer in the cluster'],
      ['t3', 'node host2 is down (heartbeat failure)'],
    ]);
  });

  it('names the reason a node cannot be asked', () => {
    expect(unreachableReason('n1', node('n1', 'h1'))).toBe('node h1 has no session with the managers');
    expect(unreachableReason('n1', node('n1', 'h1', NodeState.NODE_STATE_DOWN))).toBe('node h1 is down');
    expect(unreachableReason('n9', undefined)).toBe('node n9 is no longer in the cluster');
  });

  it('a read takes the request’s tail and since; a resumed one starts just after the last line', () => {
    const t = task('t1', 's1', 1, 'n1', TASK_STATE_RUNNING);
    const options = { follow: true, tail: 5, since: 100, stdout: true, stderr: true };
    expect(taskRead(t, options)).toEqual({ taskId: 't1', serviceId: 's1', tail: 5, since: 100 });
    const resumed = taskRead(t, options, 200.5);
    expect(resumed.tail).toBe(-1);
    expect(resumed.since).toBeGreaterThan(200.5);
    expect(resumed.since).toBeLessThan(200.501);
  });
});
