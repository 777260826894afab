// Group commit: writes asked for one by one go to the store together. One write is in flight at a time; what
// arrives meanwhile is queued and goes out, all of it, as the next (in transactions of at most `maxPerWrite`
// items, proposed together). An idle dispatcher so writes almost at once, a busy one in few large rounds:
// a thousand nodes registering with a new leader cost it a few raft rounds, not a thousand.

export interface GroupCommitOptions<K, V, R> {
  /** Writes one transaction's items; resolves with each key's result. Throwing fails every key of it. */
  write(items: readonly (readonly [K, V])[]): Promise<Map<K, R>>;
  maxPerWrite: number;
  /** A key queued again before its write: the values combined (default: the later one). */
  merge?: (queued: V, later: V) => V;
  /** Runs the first write after the current turn, so that what arrives in the same turn joins it. */
  defer?: (fn: () => void) => void;
}

interface Queued<V, R> {
  value: V;
  waiters: { resolve: (r: R | undefined) => void; reject: (err: unknown) => void }[];
}

export class GroupCommit<K, V, R> {
  private queue = new Map<K, Queued<V, R>>();
  private writing = false;
  private due = false;
  private closed: unknown;

  constructor(private readonly opts: GroupCommitOptions<K, V, R>) {}

  /** Queues `value` for `key`; resolves with its result once written. */
  add(key: K, value: V): Promise<R | undefined> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const q = this.queue.get(key);
      if (q) {
        q.value = this.opts.merge ? this.opts.merge(q.value, value) : value;
        q.waiters.push({ resolve, reject });
      } else {
        this.queue.set(key, { value, waiters: [{ resolve, reject }] });
      }
      this.schedule();
    });
  }

  /** Fails what is queued with `err`, and everything added later; a write in flight still settles. */
  close(err: unknown): void {
    this.closed = err;
    const queue = this.queue;
    this.queue = new Map();
    for (const q of queue.values()) for (const w of q.waiters) w.reject(err);
  }

  private schedule(): void {
    if (this.writing || this.due) return;
    this.due = true;
    (this.opts.defer ?? setImmediate)(() => {
      this.due = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing || this.queue.size === 0) return;
    const batch = [...this.queue];
    this.queue = new Map();
    this.writing = true;
    try {
      const chunks: (typeof batch)[] = [];
      for (let i = 0; i < batch.length; i += this.opts.maxPerWrite)
        chunks.push(batch.slice(i, i + this.opts.maxPerWrite));
      await Promise.all(
        chunks.map(async (chunk) => {
          let results: Map<K, R>;
          try {
            results = await this.opts.write(chunk.map(([k, q]) => [k, q.value] as const));
          } catch (err) {
            for (const [, q] of chunk) for (const w of q.waiters) w.reject(err);
            return;
          }
          for (const [k, q] of chunk) for (const w of q.waiters) w.resolve(results.get(k));
        }),
      );
    } finally {
      this.writing = false;
      if (this.queue.size > 0) this.schedule();
    }
  }
}
