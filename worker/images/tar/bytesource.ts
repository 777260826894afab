// Pull-based reader over an async stream of buffers: exact reads and bounded chunk iteration.
// Data is handed out as views of the incoming chunks; only the small exact reads (headers) that
// straddle two chunks are copied. A view stays valid until the next call (or the next step of
// chunks()); a caller keeping it longer holds it (chunk-pool.ts), as the unpacker's file writes do.
import { drop, hold } from '../chunk-pool.js';

export class TruncatedError extends Error {}

export class ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  /** unread data: views of incoming chunks, in order */
  private queue: Buffer[] = [];
  private queued = 0;
  /** chunks wholly handed out: let go at the next call, when the caller has held what it keeps */
  private lent: Buffer[] = [];
  private done = false;
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(src: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    if (chunk.length) {
      hold(chunk); // while any of it is queued or lent
      this.queue.push(chunk);
      this.queued += chunk.length;
    }
    return true;
  }

  private settle(): void {
    for (const c of this.lent) drop(c);
    this.lent.length = 0;
  }

  private dropQueue(): void {
    for (const c of this.queue) drop(c);
    this.queue = [];
    this.queued = 0;
  }

  /** Takes up to n bytes from the front of the queue as a view (no copy). */
  private take(n: number): Buffer {
    const head = this.queue[0];
    if (head.length <= n) {
      this.queue.shift();
      this.lent.push(head);
      this.queued -= head.length;
      this.offset += head.length;
      return head;
    }
    this.queue[0] = head.subarray(n);
    this.queued -= n;
    this.offset += n;
    return head.subarray(0, n);
  }

  /** Reads exactly n bytes; null at a clean end of stream (no byte available), throws when cut short. */
  async readExact(n: number): Promise<Buffer | null> {
    this.settle();
    while (this.queued < n) {
      if (!(await this.fill())) {
        if (this.queued === 0) return null;
        throw new TruncatedError(`unexpected end of data at offset ${this.offset + this.queued}`);
      }
    }
    if (this.queue[0].length >= n) return this.take(n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const part = this.take(n - at);
      part.copy(out, at);
      at += part.length;
    }
    return out;
  }

  /** Yields exactly n bytes as a sequence of chunks; throws when the stream ends first. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      this.settle();
      if (this.queued === 0 && !(await this.fill()))
        throw new TruncatedError(`unexpected end of data at offset ${this.offset}, ${left} bytes missing`);
      if (this.queued === 0) continue;
      const out = this.take(left);
      left -= out.length;
      yield out;
    }
    this.settle();
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) {
      /* discard */
    }
  }

  /** Drains whatever is left (tar files often carry trailing zero padding). */
  async drain(): Promise<void> {
    this.settle();
    this.dropQueue();
    while (await this.fill()) this.dropQueue();
  }

  async return(): Promise<void> {
    this.settle();
    this.dropQueue();
    await this.it.return?.();
  }
}
