// The status stream's bookkeeping: acknowledgements matched by number whatever their order, refusals as
// coded errors (what the reporter's isPermanent reads), and a failed stream failing every unanswered batch.
// The stream is an EventEmitter standing in for grpc's duplex call; test/dispatcher runs the real one.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type {
  TaskStatusAck,
  UpdateTaskStatusRequest,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { TaskState, TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import { isPermanentRefusal } from './grpc-errors.js';
import { StatusStream } from './status-stream.js';

class Call extends EventEmitter {
  written: UpdateTaskStatusRequest[] = [];
  cancelled = false;
  write(m: UpdateTaskStatusRequest) {
    this.written.push(m);
    return true;
  }
  cancel() {
    this.cancelled = true;
  }
  ack(m: Partial<TaskStatusAck>) {
    this.emit('data', { batch: 0, ignored: [], code: 0, message: '', ...m });
  }
}

const report = (taskId: string) => ({
  taskId,
  status: TaskStatus.fromPartial({ state: TaskState.TASK_STATE_RUNNING, timestamp: 1 }),
});

function open() {
  const call = new Call();
  const failures: unknown[] = [];
  const s = new StatusStream(call as never, 'sess-1', (err) => failures.push(err));
  return { call, failures, s };
}

describe('status stream', () => {
  it('numbers batches and settles each by its own acknowledgement, in any order', async () => {
    const { call, s } = open();
    const a = s.send([report('t1')]);
    const b = s.send([report('t2'), report('t3')]);
    expect(call.written.map((m) => [m.sessionId, m.batch, m.updates.map((u) => u.taskId)])).toEqual([
      ['sess-1', 1, ['t1']],
      ['sess-1', 2, ['t2', 't3']],
    ]);
    call.ack({ batch: 2, ignored: [{ taskId: 't3', reason: 'unchanged' }] });
    expect(await b).toEqual([{ taskId: 't3', reason: 'unchanged' }]);
    call.ack({ batch: 99 }); // unknown numbers are ignored
    call.ack({ batch: 1 });
    expect(await a).toEqual([]);
  });

  it('a refused batch fails with its code: permanent for PERMISSION_DENIED, not for UNAVAILABLE', async () => {
    const { call, s } = open();
    const denied = s.send([report('t1')]);
    const later = s.send([report('t2')]);
    call.ack({
      batch: 1,
      code: grpc.status.PERMISSION_DENIED,
      message: 'task t1 is not assigned to node n1',
    });
    call.ack({ batch: 2, code: grpc.status.UNAVAILABLE, message: 'the dispatcher is stopping' });
    const e1 = await denied.catch((e) => e);
    expect(e1.message).toBe('task t1 is not assigned to node n1');
    expect(isPermanentRefusal(e1)).toBe(true);
    expect(isPermanentRefusal(await later.catch((e) => e))).toBe(false);
  });

  it('a failed stream fails every unanswered batch and the session; later sends fail at once', async () => {
    const { call, failures, s } = open();
    const a = s.send([report('t1')]);
    const b = s.send([report('t2')]);
    call.ack({ batch: 1 });
    const broken = Object.assign(new Error('connection reset'), { code: grpc.status.UNAVAILABLE });
    call.emit('error', broken);
    await expect(a).resolves.toEqual([]);
    await expect(b).rejects.toBe(broken);
    await expect(s.send([report('t3')])).rejects.toBe(broken);
    expect(failures).toEqual([broken]);
    expect(call.written).toHaveLength(2);
  });

  it('the server ending the stream is a failure too', async () => {
    const { call, failures, s } = open();
    const a = s.send([report('t1')]);
    call.emit('end');
    await expect(a).rejects.toThrow(/status stream ended/);
    expect(failures).toHaveLength(1);
  });

  it('closing (the session ended) fails what is unanswered without reporting a failure, and cancels', async () => {
    const { call, failures, s } = open();
    const a = s.send([report('t1')]);
    s.close();
    await expect(a).rejects.toThrow(/session ended/);
    expect(failures).toEqual([]);
    expect(call.cancelled).toBe(true);
    call.emit('error', new Error('cancelled')); // grpc's own error after cancel changes nothing
    expect(failures).toEqual([]);
  });
});
