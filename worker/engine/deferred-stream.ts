// An attach stream handed out before the container's next monitor exists (docker lets a client
// attach to a stopped container; the stream binds to the next start's stdio). Writes and a
// half-close wait until `connect()` hands over the monitor's stream; then bytes flow both ways.
import { Duplex } from 'node:stream';

export class DeferredStream extends Duplex {
  private inner: Duplex | undefined;
  /** Writes (and their callbacks) that arrived before the monitor's stream did. */
  private queued: { chunk: Buffer; cb: (err?: Error | null) => void }[] = [];
  private ended: (() => void) | undefined;
  private wantRead = false;

  constructor() {
    super({ allowHalfOpen: true });
  }

  get connected(): boolean {
    return this.inner !== undefined;
  }

  /** Binds the monitor's attach stream; the queued input is written first. */
  connect(inner: Duplex): void {
    if (this.destroyed) {
      inner.destroy();
      return;
    }
    this.inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (e) => this.destroy(e));
    inner.on('close', () => {
      if (!this.readableEnded) this.push(null);
    });
    for (const { chunk, cb } of this.queued.splice(0)) inner.write(chunk, cb);
    if (this.ended) {
      const done = this.ended;
      this.ended = undefined;
      inner.end(done);
    }
    if (this.wantRead) inner.resume();
    else inner.pause();
  }

  /** No monitor will come (the container was removed or the engine closed): end the output. */
  abandon(): void {
    if (this.inner) return;
    for (const { cb } of this.queued.splice(0)) cb();
    this.ended?.();
    this.ended = undefined;
    this.push(null);
  }

  override _read(): void {
    this.wantRead = true;
    this.inner?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.inner) this.inner.write(chunk, cb);
    else this.queued.push({ chunk, cb });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.inner) this.inner.end(() => cb());
    else this.ended = () => cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.inner?.destroy();
    for (const q of this.queued.splice(0)) q.cb(err ?? new Error('stream destroyed'));
    cb(err);
  }
}
