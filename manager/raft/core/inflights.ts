/**
 * Append messages sent to one follower and not yet acknowledged, as a ring of (last index, bytes).
 * Bounds pipelining: the leader stops sending when the window is full.
 */
export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(readonly capacity: number) {
    this.indexes = new Array(capacity).fill(0);
    this.sizes = new Array(capacity).fill(0);
  }

  full(): boolean {
    return this.count >= this.capacity;
  }

  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('inflights: add to a full window');
    const slot = (this.start + this.count) % this.capacity;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.indexes[this.start] <= index) {
      this.bytes -= this.sizes[this.start];
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest message, so a heartbeat response can unstick a window whose acks were lost. */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.indexes[this.start]);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
