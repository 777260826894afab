// A watcher's queue. Events are pushed by apply (synchronously, in apply order) and consumed at the
// watcher's pace: `for await`, `next()`, or `drain()` for everything queued so far. A watcher that falls
// more than `limit` events behind is closed with an `unavailable` error rather than growing without bound;
// it re-reads the state (viewAndWatch) and carries on.
import { ShoalError, unavailable } from '../../common/errors.js';
import { type EventOf, matches, type StoreEvent, type WatchFilter } from './events.js';
import type { TableName } from './tables.js';

export const DEFAULT_WATCH_LIMIT = 100_000;

export class Watch<K extends TableName = TableName> implements AsyncIterable<EventOf<K>> {
  private readonly queue: EventOf<K>[] = [];
  private waiter:
    | { resolve: (e: IteratorResult<EventOf<K>>) => void; reject: (e: unknown) => void }
    | undefined;
  private closedWith: ShoalError | 'closed' | undefined;

  constructor(
    private readonly filter: WatchFilter<K>,
    private readonly limit: number,
    private readonly onClose: (w: Watch<K>) => void,
  ) {}

  /** Called by the store for every applied event. */
  offer(event: StoreEvent): void {
    if (this.closedWith) return;
    let wanted: boolean;
    try {
      wanted = matches(this.filter, event);
    } catch (err) {
      // A throwing predicate must not break apply: it ends only its own watch.
      this.end(new ShoalError('internal', 'the watch filter threw', { cause: err }));
      return;
    }
    if (!wanted) return;
    const e = event as EventOf<K>;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: e, done: false });
      return;
    }
    if (this.queue.length >= this.limit) {
      this.end(unavailable(`watch fell more than ${this.limit} events behind; read the state again`));
      return;
    }
    this.queue.push(e);
  }

  /** Everything queued now, without waiting. Throws the error the watch was closed with, once drained. */
  drain(): EventOf<K>[] {
    const out = this.queue.splice(0);
    if (out.length === 0 && this.closedWith && this.closedWith !== 'closed') throw this.closedWith;
    return out;
  }

  get pending(): number {
    return this.queue.length;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** The next event; done once the watch is closed and drained. Rejects with the error that closed it. */
  next(): Promise<IteratorResult<EventOf<K>>> {
    const e = this.queue.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.closedWith === 'closed') return Promise.resolve({ value: undefined, done: true });
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiter) return Promise.reject(new Error('Watch.next: only one pending next() at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    this.end('closed');
  }

  /** Closes the watch; a pending next() gets `done`, or the error. */
  end(reason: ShoalError | 'closed'): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    if (reason !== 'closed') this.queue.length = 0;
    this.onClose(this);
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    if (reason === 'closed') w.resolve({ value: undefined, done: true });
    else w.reject(reason);
  }

  [Symbol.asyncIterator](): AsyncIterator<EventOf<K>> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}
