// Idle reclaim: after a busy spell (an image pulled, a hundred containers started), a daemon stays at its
// high-water mark. V8 collects its old generation only when the program next allocates enough, glibc keeps
// freed blocks in its arenas for reuse, and an idle daemon allocates almost nothing, so neither happens.
// Once the event loop has been quiet for a few checks and the resident set grew since the last reclaim, one
// `release` (V8's low-memory collections, then malloc_trim) gives that memory back. A daemon that stays
// busy never pays for it (its collections run on their own), and one that stays idle pays once.

import { getHeapStatistics } from 'node:v8';
import { type Clock, systemClock } from '../common/clock.js';

/** When a reclaim is due; all sizes in bytes. */
export interface ReclaimPolicyOptions {
  /** Growth of the resident set since the last reclaim (or the start) worth a reclaim. */
  growthBytes: number;
  /** Checks in a row with the event loop this quiet before a reclaim. */
  quietChecks: number;
  /** The event loop's busy share (0–1) over a check at or below which it counts as quiet. */
  quietBusyRatio: number;
  /**
   * The V8 heap above which there is no reclaim. Its collections stop the event loop for a time that grows
   * with the heap: ~30 ms for a node's ~20 MB, but 0.2–0.85 s for the 60–80 MB of a manager of a
   * 1,000-node cluster between bursts on this 2-core machine, longer than raft's election timeout (the
   * followers' stalls in the scheduler bench were these). A heap that large is mostly live state anyway.
   */
  maxHeapBytes: number;
}

const DEFAULT_RECLAIM_POLICY: ReclaimPolicyOptions = {
  growthBytes: 2 * 2 ** 20,
  quietChecks: 2,
  // An idle manager spends ~3 % of its loop on raft and session heartbeats: that is quiet.
  quietBusyRatio: 0.1,
  maxHeapBytes: 40 * 2 ** 20,
};

/** The decision alone: fed one reading per check, it says when to reclaim. */
export class ReclaimPolicy {
  /**
   * The resident set growth is measured from: nothing at the start, so the first quiet spell after start-up
   * (modules loaded and compiled, state replayed, a swarm joined) is reclaimed too.
   */
  private baseline = 0;
  private quiet = 0;

  constructor(private readonly opts: ReclaimPolicyOptions = DEFAULT_RECLAIM_POLICY) {}

  /**
   * One check: the resident set now, the loop's busy share since the last check and the V8 heap in use.
   * True: reclaim now.
   */
  check(rssBytes: number, busyRatio: number, heapBytes = 0): boolean {
    this.quiet = busyRatio <= this.opts.quietBusyRatio ? this.quiet + 1 : 0;
    // Memory that went down on its own lowers the mark growth is measured from.
    if (rssBytes < this.baseline) this.baseline = rssBytes;
    return (
      this.quiet >= this.opts.quietChecks &&
      rssBytes - this.baseline >= this.opts.growthBytes &&
      heapBytes <= this.opts.maxHeapBytes
    );
  }

  /**
   * After a reclaim, with the resident set it left: growth is measured from here, so memory that is
   * really in use (and stays after a reclaim) does not start another one at every quiet check.
   */
  reclaimed(rssBytes: number): void {
    this.baseline = rssBytes;
    this.quiet = 0;
  }
}

export interface IdleReclaimIo {
  /** The resident set size in bytes. */
  rss(): number;
  /** The event loop's busy share since the previous call (0–1). */
  busyRatio(): number;
  /** The V8 heap in use, in bytes. */
  heapBytes(): number;
  /** Gives memory back (collections, malloc_trim). */
  release(): void;
  /**
   * Gives back, a moment after `release`, what its collections let go of but that was freed only later
   * (malloc_trim alone: V8 sweeps dead buffers' memory on a background task, finalizers run on a later turn).
   */
  trim(): void;
  /** Where a failed release is reported (it is not retried before the next growth). */
  log(msg: string): void;
}

/** A release this long (ms) is logged: a raft member cannot stall near its election timeout unnoticed. */
const SLOW_RELEASE_MS = 100;

/** How long after a release its late frees are trimmed (ms): well after the sweep and the finalizers. */
const TRIM_AFTER_MS = 200;

/** Checks every `periodMs` on `clock`; returns a stop function. */
export function startIdleReclaim(
  io: IdleReclaimIo,
  clock: Clock = systemClock,
  periodMs = 1000,
  policy = new ReclaimPolicy(),
): () => void {
  let timer: unknown;
  let trimTimer: unknown;
  const trim = () => {
    trimTimer = undefined;
    try {
      io.trim();
    } catch (err) {
      io.log(`idle reclaim: ${(err as Error).message}`);
    }
    policy.reclaimed(io.rss());
  };
  const check = () => {
    timer = clock.setTimeout(check, periodMs);
    if (!policy.check(io.rss(), io.busyRatio(), io.heapBytes())) return;
    const started = clock.now();
    try {
      io.release();
    } catch (err) {
      io.log(`idle reclaim: ${(err as Error).message}`);
    }
    const took = clock.now() - started;
    if (took >= SLOW_RELEASE_MS) io.log(`idle reclaim: the release stopped the event loop for ${took} ms`);
    policy.reclaimed(io.rss());
    trimTimer ??= clock.setTimeout(trim, TRIM_AFTER_MS);
    // The release's own time must not count against the next check's quiet.
    io.busyRatio();
  };
  timer = clock.setTimeout(check, periodMs);
  return () => {
    clock.clearTimeout(timer);
    if (trimTimer !== undefined) clock.clearTimeout(trimTimer);
  };
}

/** The process's own readings: process.memoryUsage.rss, the event loop's utilization, the V8 heap. */
export function processIo(release: () => void, trim: () => void, log: (msg: string) => void): IdleReclaimIo {
  let last = performance.eventLoopUtilization();
  return {
    rss: () => process.memoryUsage.rss(),
    busyRatio() {
      const now = performance.eventLoopUtilization();
      const d = performance.eventLoopUtilization(now, last);
      last = now;
      return d.utilization;
    },
    heapBytes: () => getHeapStatistics().used_heap_size,
    release,
    trim,
    log,
  };
}
