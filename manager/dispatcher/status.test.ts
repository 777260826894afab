// withStatus: the stored task after a report, running_since set by the first RUNNING report and kept after.
import { describe, expect, it } from 'vitest';
import { TaskState, TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { makeTask } from '../store/testkit.js';
import { forWorker } from './assignments.js';
import { withStatus } from './status.js';

const report = (state: TaskState, timestamp: number) => TaskStatus.fromPartial({ state, timestamp });

describe('withStatus', () => {
  it('sets running_since on the first RUNNING report and keeps it across later ones', () => {
    const t0 = makeTask('t1', 's1', 1);
    const starting = withStatus(t0, report(TaskState.TASK_STATE_STARTING, 100));
    expect(starting.runningSince).toBe(0);
    const running = withStatus(starting, report(TaskState.TASK_STATE_RUNNING, 200));
    expect(running.runningSince).toBe(200);
    const again = withStatus(running, report(TaskState.TASK_STATE_RUNNING, 300));
    expect(again.runningSince).toBe(200);
    const failed = withStatus(again, report(TaskState.TASK_STATE_FAILED, 900));
    expect(failed).toMatchObject({ runningSince: 200, status: { state: TaskState.TASK_STATE_FAILED } });
  });

  it('a task that went past RUNNING between two writes has none; workers never see it', () => {
    const t = withStatus(makeTask('t1', 's1', 1), report(TaskState.TASK_STATE_FAILED, 500));
    expect(t.runningSince).toBe(0);
    const up = withStatus(makeTask('t2', 's1', 2), report(TaskState.TASK_STATE_RUNNING, 50));
    expect(forWorker(up).runningSince).toBe(0);
  });
});
