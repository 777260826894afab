// sameForWorker: what a worker acts on, compared field by field (shared fields by identity).
import { describe, expect, it } from 'vitest';
import { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';
import { makeTask } from '../store/testkit.js';
import { sameForWorker } from './assignments.js';

/** The reference: the task as the worker gets it, encoded without what it does not act on. */
const fingerprint = (task: Task): string =>
  Buffer.from(
    Task.encode({ ...task, status: undefined, meta: undefined, runningSince: 0 }).finish(),
  ).toString('base64');

describe('sameForWorker', () => {
  const a = Task.fromPartial({
    ...makeTask('t1', 's1', 1, 'n1'),
    spec: { containerSpec: { image: 'bb:1', env: ['A=1'] } },
  });
  it('ignores the observed status, the store meta and running_since, as fingerprint does', () => {
    const b = {
      ...a,
      status: { ...a.status!, state: TaskState.TASK_STATE_RUNNING },
      meta: { version: 9, createdAt: 1, updatedAt: 2 },
      runningSince: 5,
    };
    expect(sameForWorker(a, b)).toBe(true);
    expect(fingerprint(a)).toBe(fingerprint(b));
  });

  it('sees a change in anything else, shared or deep-copied', () => {
    const copy = structuredClone(a);
    expect(sameForWorker(a, copy)).toBe(true);
    const env = structuredClone(a);
    env.spec!.containerSpec!.env = ['B=2'];
    for (const b of [{ ...a, desiredState: TaskState.TASK_STATE_SHUTDOWN }, { ...a, nodeId: 'n2' }, env]) {
      expect(sameForWorker(a, b)).toBe(false);
      expect(sameForWorker(b, a)).toBe(false);
      expect(fingerprint(a)).not.toBe(fingerprint(b));
    }
  });
});
