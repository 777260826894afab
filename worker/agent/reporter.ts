// Task status reports on their way to the dispatcher: coalesced per task (the larger state wins, as in the
// store), sent in batches while a session is up, kept until the dispatcher acknowledges them (it answers
// only once they are written), and sent again over the next session — to whichever manager — if not.
//
// Every report the dispatcher takes is a raft write on every manager. A state a task only passes through
// (ACCEPTED … STARTING) is held for `holdMs` in case a later one replaces it: a container that starts
// within that time costs one write (RUNNING), not three. A held report still goes out at once with any
// batch that is sent meanwhile (it costs nothing more there), and after `holdMs` at the latest, so a slow
// pull or a health check still shows. Two batches may be in flight: a RUNNING does not wait for the write
// of the STARTING before it (the dispatcher ignores a report older than what it has, so order is safe).

import type { Clock } from '../../common/clock.js';
import { TaskState, type TaskStatus } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { TaskStatusReport } from './executor-port.js';

/** Sends one batch; resolves with the reports the dispatcher ignored (stale), rejects if none were taken. */
export type SendStatus = (batch: TaskStatusReport[]) => Promise<{ taskId: string; reason: string }[]>;

export interface ReporterOptions {
  /** Reports arriving within this window (ms) go in one batch. */
  batchMs?: number;
  /** How long a state the task passes through (ACCEPTED … STARTING) may wait for a later one (ms). */
  holdMs?: number;
  maxBatch?: number;
  /** Batches sent and not yet answered, at most. */
  maxInFlight?: number;
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

/** A state a task normally leaves on its own within moments. */
const passing = (s: TaskState) => s >= TaskState.TASK_STATE_ACCEPTED && s < TaskState.TASK_STATE_RUNNING;

interface Pending {
  status: TaskStatus;
  /** When it must go out (clock ms). */
  due: number;
}

export class StatusReporter {
  private readonly pending = new Map<string, Pending>();
  /** The status of each task in a batch not yet answered (not sent again meanwhile). */
  private readonly sent = new Map<string, TaskStatus>();
  private send: SendStatus | undefined;
  /** Counts the sessions: answers to an earlier one's batches do not count against this one's. */
  private session = 0;
  private inFlight = 0;
  /** No batch before this (clock ms): a failed one waits `retryMs`. */
  private notBefore = 0;
  private timer: unknown;
  private timerDue = Number.POSITIVE_INFINITY;
  private readonly batchMs: number;
  private readonly holdMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly retryMs: number;
  private readonly isPermanent: (err: unknown) => boolean;
  private readonly log: (message: string, err?: unknown) => void;

  constructor(
    private readonly clock: Clock,
    options: ReporterOptions = {},
  ) {
    this.batchMs = options.batchMs ?? 2;
    this.holdMs = options.holdMs ?? 100;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.retryMs = options.retryMs ?? 500;
    this.isPermanent = options.isPermanent ?? (() => false);
    this.log = options.log ?? (() => {});
  }

  push(report: TaskStatusReport): void {
    const prev = this.pending.get(report.taskId);
    const status = prev ? newer(prev.status, report.status) : report.status;
    const due = this.clock.now() + (passing(status.state) ? this.holdMs : this.batchMs);
    // A task moving through several passing states is still reported within holdMs of the first (unless
    // that one is out already: the next waits afresh).
    const waiting = prev !== undefined && this.sent.get(report.taskId) !== prev.status;
    const entry = { status, due: waiting ? Math.min(prev.due, due) : due };
    this.pending.set(report.taskId, entry);
    // Only this report's due time is new: no scan of the others (a node starting a hundred tasks pushes
    // five reports each).
    this.arm(entry.due);
  }

  /** Forgets reports of a task (it was removed: nobody wants them any more). */
  forget(taskId: string): void {
    this.pending.delete(taskId);
    this.sent.delete(taskId);
  }

  /** A session is up: everything pending goes out through `send`. */
  attach(send: SendStatus): void {
    this.send = send;
    this.session++;
    this.inFlight = 0;
    this.notBefore = 0;
    this.sent.clear();
    const now = this.clock.now();
    for (const p of this.pending.values()) p.due = Math.min(p.due, now);
    this.schedule();
  }

  detach(): void {
    this.send = undefined;
    this.cancelTimer();
  }

  get size(): number {
    return this.pending.size;
  }

  /** What is waiting for an acknowledgement (for tests and diagnostics). */
  pendingReports(): TaskStatusReport[] {
    return [...this.pending].map(([taskId, p]) => ({ taskId, status: p.status }));
  }

  /** Sets the timer for the earliest report due that is not in flight already. */
  private schedule(): void {
    let due = Number.POSITIVE_INFINITY;
    for (const [id, p] of this.pending) if (p.due < due && this.sent.get(id) !== p.status) due = p.due;
    this.arm(due);
  }

  /** Moves the timer to `due` (no earlier than `notBefore`) when that is sooner than where it is. */
  private arm(due: number): void {
    if (!this.send || this.inFlight >= this.maxInFlight || due === Number.POSITIVE_INFINITY) return;
    due = Math.max(due, this.notBefore);
    if (due >= this.timerDue) return;
    this.cancelTimer();
    this.timerDue = due;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Number.POSITIVE_INFINITY;
        this.flush();
      },
      Math.max(0, due - this.clock.now()),
    );
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }

  private flush(): void {
    const send = this.send;
    if (!send || this.inFlight >= this.maxInFlight) return;
    const batch: TaskStatusReport[] = [];
    for (const [taskId, p] of this.pending) {
      if (this.sent.get(taskId) === p.status) continue;
      batch.push({ taskId, status: p.status });
      if (batch.length >= this.maxBatch) break;
    }
    if (batch.length === 0) return;
    for (const r of batch) this.sent.set(r.taskId, r.status);
    const session = this.session;
    this.inFlight++;
    send(batch).then(
      (ignored) => {
        for (const i of ignored) this.log(`status of task ${i.taskId} ignored: ${i.reason}`);
        this.settle(batch);
        this.answered(session, batch);
        this.schedule();
      },
      (err) => {
        if (this.isPermanent(err)) {
          this.log('status reports refused; dropping them', err);
          this.settle(batch);
        } else if (session === this.session) {
          this.notBefore = this.clock.now() + this.retryMs;
        }
        this.answered(session, batch);
        this.schedule();
      },
    );
  }

  /** A batch of `session` was answered: its reports may go out again, and another batch may. */
  private answered(session: number, batch: TaskStatusReport[]): void {
    if (session !== this.session) return;
    this.inFlight--;
    for (const r of batch) if (this.sent.get(r.taskId) === r.status) this.sent.delete(r.taskId);
  }

  /** Drops the sent reports that were not superseded while the batch was out. */
  private settle(batch: TaskStatusReport[]): void {
    for (const r of batch) if (this.pending.get(r.taskId)?.status === r.status) this.pending.delete(r.taskId);
  }
}
