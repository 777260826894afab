// The agent's end of ReportTaskStatus: one stream per session carrying the reporter's batches, each
// numbered and answered by an acknowledgement of its number once the dispatcher wrote it (or refused it,
// with the gRPC code a unary call would have failed with, so the reporter tells a refusal from a failure
// the same way). When the stream fails every unanswered batch fails with it, and so does the session: the
// agent opens both again, and the reporter sends what was not acknowledged over the new ones.
import type * as grpc from '@grpc/grpc-js';
import { unavailable } from '../../common/errors.js';
import type {
  TaskStatusAck,
  UpdateTaskStatusRequest,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import type { SendStatus } from './reporter.js';

type Ignored = Awaited<ReturnType<SendStatus>>;

interface Waiter {
  resolve: (ignored: Ignored) => void;
  reject: (err: unknown) => void;
}

/** A refused batch: carries the code as a failed call does (grpc-errors.ts reads it). */
export class RefusedBatch extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class StatusStream {
  private next = 1;
  private readonly waiting = new Map<number, Waiter>();
  private failed: unknown;

  constructor(
    private readonly call: grpc.ClientDuplexStream<UpdateTaskStatusRequest, TaskStatusAck>,
    private readonly sessionId: string,
    private readonly onFailure: (err: unknown) => void,
  ) {
    call.on('data', (ack: TaskStatusAck) => this.answer(ack));
    call.on('error', (err) => this.fail(err));
    call.on('end', () => this.fail(unavailable('the task status stream ended')));
  }

  /** The reporter's SendStatus over this stream. */
  readonly send: SendStatus = (batch) => {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const batchNo = this.next++;
    return new Promise<Ignored>((resolve, reject) => {
      this.waiting.set(batchNo, { resolve, reject });
      this.call.write({
        sessionId: this.sessionId,
        batch: batchNo,
        updates: batch.map((r) => ({ taskId: r.taskId, status: r.status })),
      });
    });
  };

  /** Ends the stream (the session ended); unanswered batches fail and go out again over the next one. */
  close(): void {
    this.fail(unavailable('the session ended'), false);
    this.call.cancel();
  }

  private answer(ack: TaskStatusAck): void {
    const w = this.waiting.get(ack.batch);
    if (!w) return;
    this.waiting.delete(ack.batch);
    if (ack.code === 0) w.resolve(ack.ignored);
    else w.reject(new RefusedBatch(ack.code, ack.message));
  }

  private fail(err: unknown, tell = true): void {
    if (this.failed !== undefined) return;
    this.failed = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    if (tell) this.onFailure(err);
  }
}
