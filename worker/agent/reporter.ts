// Task status reports on their way to the dispatcher: coalesced per task (the larger state wins, as in the
// store), sent in batches while a session is up, kept until the dispatcher acknowledges them (it answers
// only once they are written), and sent again over the next session — to whichever manager — if not.

import type { Clock } from '../../common/clock.js';
import type { TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { TaskStatusReport } from './executor-port.js';

/** Sends one batch; resolves with the reports the dispatcher ignored (stale), rejects if none were taken. */
export type SendStatus = (batch: TaskStatusReport[]) => Promise<{ taskId: string; reason: string }[]>;

export interface ReporterOptions {
  /** Reports arriving within this window (ms) go in one batch. */
  batchMs?: number;
  maxBatch?: number;
  /** Wait before re-sending after a failed batch (ms). */
  retryMs?: number;
  /** Whether a failure means the dispatcher will never take these reports (they are dropped). */
  isPermanent?: (err: unknown) => boolean;
  log?: (message: string, err?: unknown) => void;
}

function newer(a: TaskStatus, b: TaskStatus): TaskStatus {
  if (a.state !== b.state) return a.state > b.state ? a : b;
  return b.timestamp >= a.timestamp ? b : a;
}

export class StatusReporter {
  private readonly pending = new Map<string, TaskStatus>();
  private send: SendStatus | undefined;
  private inFlight = false;
  private timer: unknown;
  private readonly batchMs: number;
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private readonly isPermanent: (err: unknown) => boolean;
  private readonly log: (message: string, err?: unknown) => void;

  constructor(
    private readonly clock: Clock,
    options: ReporterOptions = {},
  ) {
    // Short: one report in flight at a time already batches what comes meanwhile (group commit).
    this.batchMs = options.batchMs ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
    this.retryMs = options.retryMs ?? 500;
    this.isPermanent = options.isPermanent ?? (() => false);
    this.log = options.log ?? (() => {});
  }

  push(report: TaskStatusReport): void {
    const prev = this.pending.get(report.taskId);
    this.pending.set(report.taskId, prev ? newer(prev, report.status) : report.status);
    this.schedule(this.batchMs);
  }

  /** Forgets reports of a task (it was removed: nobody wants them any more). */
  forget(taskId: string): void {
    this.pending.delete(taskId);
  }

  /** A session is up: everything pending goes out through `send`. */
  attach(send: SendStatus): void {
    this.send = send;
    this.schedule(0);
  }

  detach(): void {
    this.send = undefined;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.pending.size;
  }

  /** What is waiting for an acknowledgement (for tests and diagnostics). */
  pendingReports(): TaskStatusReport[] {
    return [...this.pending].map(([taskId, status]) => ({ taskId, status }));
  }

  private schedule(ms: number): void {
    if (!this.send || this.inFlight || this.timer !== undefined || this.pending.size === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  private flush(): void {
    const send = this.send;
    if (!send || this.inFlight || this.pending.size === 0) return;
    const batch = [...this.pending].slice(0, this.maxBatch).map(([taskId, status]) => ({ taskId, status }));
    this.inFlight = true;
    send(batch).then(
      (ignored) => {
        for (const i of ignored) this.log(`status of task ${i.taskId} ignored: ${i.reason}`);
        this.settle(batch);
        this.inFlight = false;
        this.schedule(0);
      },
      (err) => {
        this.inFlight = false;
        if (this.isPermanent(err)) {
          this.log('status reports refused; dropping them', err);
          this.settle(batch);
          this.schedule(0);
        } else {
          this.schedule(this.retryMs);
        }
      },
    );
  }

  /** Drops the sent reports that were not superseded while the batch was out. */
  private settle(batch: TaskStatusReport[]): void {
    for (const r of batch) if (this.pending.get(r.taskId) === r.status) this.pending.delete(r.taskId);
  }
}
