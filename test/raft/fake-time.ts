// Deterministic time for driver and node tests: a clock whose timers fire only when advanced, and a scheduler
// whose deferred work runs only when drained. No sleeps, no polling.
import type { Clock } from '../../manager/raft/node/clock.js';
import type { Scheduler } from '../../manager/raft/node/driver.js';

export class ManualScheduler implements Scheduler {
  private queue: (() => void)[] = [];
  defer(fn: () => void): void {
    this.queue.push(fn);
  }
  /** Runs deferred work (and what it defers) until none is left. */
  run(): void {
    for (let n = 0; n < 1_000_000; n++) {
      const fn = this.queue.shift();
      if (!fn) return;
      fn();
    }
    throw new Error('deferred work does not settle');
  }
}

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  constructor(private readonly sched?: ManualScheduler) {}

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward by ms, firing due timers in order (and draining the scheduler after each). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      this.sched?.run();
    }
    this.t = end;
    this.sched?.run();
  }
}
