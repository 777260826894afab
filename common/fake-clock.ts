// A Clock for tests and simulations: time stands still until the test moves it, and timers fire in time
// order (ties in the order they were set) as it passes them.
import type { Clock } from './clock.js';

interface Timer {
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing each due timer at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }

  /**
   * Moves time forward by `ms` as a stopped event loop does: nothing fires meanwhile, then every timer due
   * by the end fires late, in time order, with `now()` at the end.
   */
  stall(ms: number): void {
    this.t += ms;
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const e of this.timers) if (e[1].at <= this.t && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      next[1].fn();
    }
  }

  get pendingTimers(): number {
    return this.timers.size;
  }
}
