// Reused 1 MiB buffers for a layer's way from the network to the disk. Each buffer a pull allocated
// and dropped counted as V8 "external memory": ~500 MB of it per 200 MB image set off a
// mark-compact every ~30 ms (a fifth of a pull's CPU went to the collector). Pooled buffers are
// allocated once and handed round.
//
// Ownership is counted: `take()` gives a buffer held once; whoever keeps it (or a view of it) past
// its next step holds it (`hold`) and lets go (`drop`) when done; at zero it returns to the pool.
// `hold` and `drop` accept any buffer or view and ignore those not from a pool, so the stages a
// pooled chunk passes through (the blob writer, the hashes, the tar reader, the unpacker) need not
// know where their input came from. A buffer whose holders never let go (a failed pull) is simply
// collected by V8, never reused.

import { alignedBuffer } from '../engine/native.js';

/** Holds per backing ArrayBuffer of every pooled buffer now lent out. */
const holds = new WeakMap<ArrayBufferLike, { pool: ChunkPool; n: number }>();

export class ChunkPool {
  private readonly free: Buffer[] = [];
  private lastTake = 0;
  /** buffers this pool has allocated (tests: with a large `keep`, all idle once everyone let go) */
  allocated = 0;
  private trim: NodeJS.Timeout | null = null;

  private readonly keep: number;
  private readonly poison?: number;
  private readonly idleMs: number;
  private readonly alloc: (size: number) => Buffer;

  /**
   * @param size bytes per buffer
   * @param opts.keep buffers kept for reuse at most (the rest are left to the collector)
   * @param opts.idleMs idle buffers are let go after this long without a take (a daemon at rest
   *   keeps none; default 2 s)
   * @param opts.poison fill a returned buffer with this byte (tests: a stage that used a buffer
   *   after letting go reads garbage, and the unpacked files show it)
   * @param opts.alloc makes a buffer with a backing store of its own (default allocUnsafeSlow)
   */
  constructor(
    readonly size: number,
    opts: { keep: number; idleMs?: number; poison?: number; alloc?: (size: number) => Buffer },
  ) {
    this.alloc = opts.alloc ?? Buffer.allocUnsafeSlow;
    this.keep = opts.keep;
    this.idleMs = opts.idleMs ?? 2000;
    this.poison = opts.poison;
  }

  /** A buffer of `size` bytes (contents undefined), held once by the caller. */
  take(): Buffer {
    this.lastTake = Date.now();
    // a backing store of its own, so its ArrayBuffer names this buffer alone
    let b = this.free.pop();
    if (!b) {
      b = this.alloc(this.size);
      this.allocated++;
    }
    holds.set(b.buffer, { pool: this, n: 1 });
    return b;
  }

  /** Buffers waiting for reuse (tests). */
  get idle(): number {
    return this.free.length;
  }

  /**
   * Lets go of the idle buffers now rather than after `idleMs`: the daemon's idle reclaim calls this
   * before its collection, which could not free buffers still kept here (and, once the pool let go of
   * them later, nothing would collect them in a daemon at rest).
   */
  releaseIdle(): void {
    this.free.length = 0;
    if (this.trim) clearInterval(this.trim);
    this.trim = null;
  }

  /** @internal called by drop() when the last holder let go */
  giveBack(ab: ArrayBufferLike): void {
    if (this.free.length >= this.keep) return;
    const b = Buffer.from(ab, 0, this.size);
    if (this.poison !== undefined) b.fill(this.poison);
    this.free.push(b);
    this.trim ??= setInterval(() => {
      if (Date.now() - this.lastTake >= this.idleMs) this.releaseIdle();
    }, this.idleMs).unref();
  }
}

/** One more holder of the pooled buffer under `b` (a no-op for any other buffer). */
export function hold(b: Uint8Array): void {
  const h = holds.get(b.buffer);
  if (h) h.n++;
}

/** A holder of the pooled buffer under `b` lets go; the last returns it to its pool. */
export function drop(b: Uint8Array): void {
  const h = holds.get(b.buffer);
  if (!h) return;
  if (--h.n > 0) return;
  holds.delete(b.buffer);
  h.pool.giveBack(b.buffer);
}

/**
 * The process's pool for layer ingestion: 1 MiB buffers (the coalesced network reads and the
 * inflated tar chunks), up to 64 kept while pulls run (a layer in flight holds up to ~20 in its
 * write and hash queues; a pull unpacks 3 or 4 at once). Page-aligned, so that a blob is written
 * from them with O_DIRECT (blobstore.ts).
 */
export const layerChunks = new ChunkPool(1 << 20, { keep: 64, alloc: alignedBuffer });

/** The process's idle pooled buffers, let go (the daemon's idle reclaim). */
export function releaseIdleChunks(): void {
  layerChunks.releaseIdle();
}
