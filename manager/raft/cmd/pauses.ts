// Process-wide pauses that delay every request regardless of raft: garbage collection and event-loop
// stalls. raftnode reports them in its status so a latency tail can be told apart from disk stalls.
import {
  constants,
  monitorEventLoopDelay,
  PerformanceObserver,
  type PerformanceObserverEntryList,
} from 'node:perf_hooks';

export interface PauseStats {
  gcCount: number;
  gcMs: number;
  maxGcMs: number;
  /** Mark-sweep-compact collections (the long ones: they walk the whole live heap). */
  majorGcCount: number;
  maxMajorGcMs: number;
  /** How late the event loop ran timers (ms), since start. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  heapUsedMb: number;
}

export class PauseMonitor {
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private readonly gc = new PerformanceObserver((list) => this.onGc(list));
  private readonly counts = { gcCount: 0, gcMs: 0, maxGcMs: 0, majorGcCount: 0, maxMajorGcMs: 0 };

  start(): this {
    this.loop.enable();
    this.gc.observe({ entryTypes: ['gc'] });
    return this;
  }

  stop(): void {
    this.loop.disable();
    this.gc.disconnect();
  }

  stats(): PauseStats {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    return {
      ...this.counts,
      gcMs: Math.round(this.counts.gcMs),
      loopDelayP99Ms: ms(this.loop.percentile(99)),
      loopDelayMaxMs: ms(this.loop.max),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    };
  }

  private onGc(list: PerformanceObserverEntryList): void {
    const c = this.counts;
    for (const e of list.getEntries()) {
      c.gcCount++;
      c.gcMs += e.duration;
      if (e.duration > c.maxGcMs) c.maxGcMs = e.duration;
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        c.majorGcCount++;
        if (e.duration > c.maxMajorGcMs) c.maxMajorGcMs = e.duration;
      }
    }
  }
}
