// The worker's side of the log broker (swarmkit's agent/worker.go Subscribe + the task log publisher): a
// LogSubscription arriving on the session makes this node read the listed tasks' container logs and publish
// them on one PublishLogs stream per subscription, to the manager of the session.
//
//   subscription ─► one read per task (tail/since/follow) ─► batches (≤ 100 lines or 10 ms) ─► PublishLogs
//   without follow: every read at its end ─► close message, stream ended
//   close from the broker, or the session ends ─► reads aborted, stream ended
//
// A task whose container is not on this node (removed with the task) publishes nothing and is not reported:
// docker shows nothing for it either. Any other read failure is reported as missing with its reason.
import { isShoalError } from '../../common/errors.js';
import type {
  LogMessage,
  LogSubscription,
  MissingLogs,
  PublishLogsMessage,
  TaskLogRead,
} from '../../proto/gen/shoal/logbroker/v1/logbroker.js';
import { LogStream } from '../../proto/gen/shoal/logbroker/v1/logbroker.js';

export interface TaskLogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC3339Nano. */
  time: string;
  line: Buffer;
}

export interface TaskLogOptions {
  follow: boolean;
  tail: number | 'all';
  /** Unix seconds; undefined: from the beginning. */
  since?: number;
  stdout: boolean;
  stderr: boolean;
  signal: AbortSignal;
}

/**
 * A task's container log on this node. Throws (or the iterable throws) a ShoalError `not_found` when the
 * node has no container for the task.
 */
export type TaskLogSource = (taskId: string, opts: TaskLogOptions) => AsyncIterable<TaskLogEntry>;

/** What the publisher needs of a gRPC client-streaming call. */
export interface PublishStream {
  write(message: PublishLogsMessage): boolean;
  end(): void;
  cancel(): void;
  once(event: 'drain', fn: () => void): unknown;
}

/** Opens the publish stream of one subscription; `done` runs once with the call's outcome. */
export type OpenPublish = (done: (err?: Error) => void) => PublishStream;

const BATCH_LINES = 100;
const BATCH_MS = 10;

interface Running {
  id: string;
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  abort: AbortController;
  stream: PublishStream;
  reading: Set<string>;
  active: number;
  batch: LogMessage[];
  missing: MissingLogs[];
  timer: NodeJS.Timeout | undefined;
  drained: Promise<void> | undefined;
  release: (() => void) | undefined;
  over: boolean;
}

export class LogPublisher {
  private readonly subs = new Map<string, Running>();

  constructor(
    private readonly source: TaskLogSource | undefined,
    private readonly log: (message: string, err?: unknown) => void,
  ) {}

  /** Subscriptions being served (tests, diagnostics). */
  get size(): number {
    return this.subs.size;
  }

  /** A LogSubscription from the session. */
  handle(sub: LogSubscription, open: OpenPublish): void {
    if (sub.close) {
      const r = this.subs.get(sub.id);
      if (r) this.finish(r, false);
      return;
    }
    let r = this.subs.get(sub.id);
    if (!r) {
      const abort = new AbortController();
      const created: Running = {
        id: sub.id,
        follow: sub.follow,
        stdout: sub.stdout,
        stderr: sub.stderr,
        abort,
        stream: open((err) => {
          // The broker ended or refused the stream (subscription over, manager gone): stop reading.
          if (err && !abort.signal.aborted) this.log(`publishing logs of subscription ${sub.id} ended`, err);
          this.finish(created, false);
        }),
        reading: new Set(),
        active: 0,
        batch: [],
        missing: [],
        timer: undefined,
        drained: undefined,
        release: undefined,
        over: false,
      };
      r = created;
      this.subs.set(sub.id, r);
      // The first message names the subscription, so the broker knows the node answered.
      this.write(r, { subscriptionId: sub.id, messages: [], missing: [], close: false });
    }
    for (const read of sub.tasks) {
      if (r.reading.has(read.taskId)) continue;
      r.reading.add(read.taskId);
      r.active++;
      void this.read(r, read);
    }
    if (r.active === 0 && !r.follow) this.finish(r, true);
  }

  /** The session ended: every subscription is dropped (the broker reports this node missing). */
  abandonAll(): void {
    for (const r of [...this.subs.values()]) {
      r.over = true;
      this.subs.delete(r.id);
      clearTimeout(r.timer);
      r.abort.abort();
      r.release?.();
      r.stream.cancel();
    }
  }

  private async read(r: Running, read: TaskLogRead): Promise<void> {
    const context = { nodeId: '', serviceId: read.serviceId, taskId: read.taskId };
    try {
      if (!this.source) throw new Error('this node cannot read container logs');
      const entries = this.source(read.taskId, {
        follow: r.follow,
        tail: read.tail < 0 ? 'all' : read.tail,
        since: read.since > 0 ? read.since : undefined,
        stdout: r.stdout,
        stderr: r.stderr,
        signal: r.abort.signal,
      });
      for await (const e of entries) {
        if (r.over) return;
        r.batch.push({
          context,
          stream: e.stream === 'stderr' ? LogStream.LOG_STREAM_STDERR : LogStream.LOG_STREAM_STDOUT,
          time: e.time,
          data: e.line,
        });
        if (r.batch.length >= BATCH_LINES) this.flush(r);
        else r.timer ??= setTimeout(() => this.flush(r), BATCH_MS);
        if (r.drained) await r.drained;
      }
    } catch (err) {
      if (r.over || r.abort.signal.aborted) return;
      if (!isShoalError(err, 'not_found'))
        r.missing.push({ context, reason: `reading the logs failed: ${(err as Error)?.message ?? err}` });
    } finally {
      r.active--;
      if (!r.over && r.active === 0 && !r.follow) this.finish(r, true);
    }
  }

  private flush(r: Running): void {
    clearTimeout(r.timer);
    r.timer = undefined;
    if (r.over || (r.batch.length === 0 && r.missing.length === 0)) return;
    const message = { subscriptionId: '', messages: r.batch, missing: r.missing, close: false };
    r.batch = [];
    r.missing = [];
    this.write(r, message);
  }

  private write(r: Running, message: PublishLogsMessage): void {
    if (r.stream.write(message) || r.drained) return;
    r.drained = new Promise((resolve) => {
      r.release = () => {
        r.drained = undefined;
        r.release = undefined;
        resolve();
      };
      r.stream.once('drain', () => r.release?.());
    });
  }

  /** Ends a subscription: `complete` sends what is left and the close message (every read at its end). */
  private finish(r: Running, complete: boolean): void {
    if (r.over) return;
    if (complete) {
      this.flush(r);
      r.stream.write({ subscriptionId: '', messages: [], missing: [], close: true });
    }
    r.over = true;
    clearTimeout(r.timer);
    if (this.subs.get(r.id) === r) this.subs.delete(r.id);
    r.abort.abort();
    r.release?.();
    r.stream.end();
  }
}
