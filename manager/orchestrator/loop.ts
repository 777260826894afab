// The thin runner around a pure reconcile function: watch the store, decide on a view, commit the decisions as
// one transaction, repeat until a pass decides nothing. Level-triggered: an event only says "look again", so
// a lost or coalesced event costs nothing, and a loop started on a store that already holds everything (a new
// leader) decides nothing new. Only the leader runs loops: start() when leadership is gained, stop() when lost
// (runWhileLeader in manager/raft/replicated.ts does both, with loopsComponent).
import { isShoalError } from '../../common/errors.js';
import type { LeaderComponent } from '../raft/replicated.js';
import type { ReadTx, Store, StoreEvent, TableName, Watch } from '../store/index.js';
import { applyDecisions, type Decisions, isEmpty, splitDecisions } from './decisions.js';

export interface LoopClock {
  /** Unix milliseconds. */
  now(): number;
  /** Calls `fn` at `at` (Unix ms) or later; returns a cancel function. */
  timer(at: number, fn: () => void): () => void;
}

export const systemClock: LoopClock = {
  now: Date.now,
  timer(at, fn) {
    const h = setTimeout(fn, Math.max(0, at - Date.now()));
    h.unref?.();
    return () => clearTimeout(h);
  },
};

export interface ReconcileLoopOptions {
  /** For error reports ("orchestrator", "scheduler"). */
  name: string;
  store: Store;
  /**
   * `changes`: the events since the last pass (those `wakesOn` let through), for a pass that looks at what
   * changed only; undefined when the pass must look at everything (the first pass, a timer, a watch that fell
   * behind, a failed pass, too many changes to list). `carry`: the last committed pass's Decisions.carry.
   */
  decide: (
    view: ReadTx,
    now: number,
    changes: readonly StoreEvent[] | undefined,
    carry: unknown,
  ) => Decisions;
  /** Tables whose changes trigger a pass (default: all). */
  tables?: readonly TableName[];
  /**
   * After a settled pass (Decisions.settled), only events this accepts trigger the next; default: all. Fast
   * (it runs inside the store's apply, for every event of `tables`) and without effect on the store. At a
   * thousand nodes the status reports alone are tens of thousands of events, each worth a whole pass to a
   * loop that cannot act on them.
   */
  wakesOn?: (e: StoreEvent) => boolean;
  clock?: LoopClock;
  /** Called with errors that are not a lost race (default: console.error). */
  onError?: (err: unknown) => void;
}

/** Events kept for the next pass; past this many, it looks at everything instead. */
const MAX_CHANGES = 20_000;

/** After a commit the log refused, a pass over everything follows this much later (ms). */
const RETRY_AFTER_FAILURE_MS = 1000;

/** Conflicting commits in a row before a loop waits RETRY_AFTER_FAILURE_MS (a livelock guard). */
const MAX_CONFLICTS = 50;

/**
 * A pass that took this long (ms) makes the loop wait as long again before the next: at most half of the
 * event loop for one reconcile loop, however fast events come. Below it (every pass of a small cluster) the
 * next pass follows at once. At 10,000 tasks each RUNNING report batch started a ~70 ms orchestrator pass
 * back to back with the last, and the leader's raft heartbeats waited behind them.
 */
const PACE_FROM_MS = 5;

export class ReconcileLoop {
  private started = false;
  private watch: Watch | undefined;
  private dirty = false;
  /** The events the next pass looks at; undefined: everything. */
  private changes: StoreEvent[] | undefined;
  /** The carry of the last pass whose writes all committed. */
  private carry: unknown;
  private running: Promise<void> | undefined;
  private cancelTimer: (() => void) | undefined;
  private timerAt: number | undefined;
  private cancelRetry: (() => void) | undefined;
  private cancelPause: (() => void) | undefined;
  private readonly clock: LoopClock;
  /**
   * The last pass was settled: events wakesOn refuses are skipped. Set in the same synchronous step as the
   * pass takes its view, so every skipped event came after a view that was settled without it.
   */
  private settled = false;
  /** No pass before this (loop clock ms): a slow pass is followed by a wait as long as it took (pause()). */
  private paceUntil = 0;
  /** Passes run and transactions committed since construction (for tests and status). */
  passes = 0;
  commits = 0;

  constructor(private readonly opts: ReconcileLoopOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  get active(): boolean {
    return this.started;
  }

  /** Starts watching and runs a first pass over the current state. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.settled = false;
    this.changes = undefined;
    this.carry = undefined;
    this.subscribe();
    this.kick();
  }

  /** Stops watching and waits for a pass in progress to finish (its commit may still land). */
  async stop(): Promise<void> {
    this.started = false;
    this.watch?.close();
    this.watch = undefined;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = undefined;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    this.cancelPause?.();
    await this.running;
  }

  /** Resolves once no pass runs or is due (events already applied have been looked at). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.running) {
        await this.running;
        continue;
      }
      await new Promise((r) => setImmediate(r));
      if (!this.running) return;
    }
  }

  /** Asks for a pass over everything. */
  kick(): void {
    this.changes = undefined;
    this.wake();
  }

  private wake(): void {
    if (!this.started) return;
    this.dirty = true;
    if (!this.running) this.running = this.run().finally(() => (this.running = undefined));
  }

  private noteChange(e: StoreEvent): void {
    if (!this.changes) return;
    if (this.changes.length < MAX_CHANGES) this.changes.push(e);
    else this.changes = undefined;
  }

  /** Changes a pass took but did not get committed: looked at again by the next. */
  private giveBack(changes: StoreEvent[] | undefined): void {
    if (!changes || !this.changes) this.changes = undefined;
    else for (const e of changes) this.noteChange(e);
  }

  private subscribe(): void {
    const wakesOn = this.opts.wakesOn;
    // wakesOn sees every event, settled or not (the pipeline loop notes which ones its orchestrator skips).
    const predicate = wakesOn ? (e: StoreEvent) => wakesOn(e) || !this.settled : undefined;
    const w = this.opts.store.watch({
      ...(this.opts.tables ? { table: this.opts.tables } : {}),
      ...(predicate ? { predicate } : {}),
    });
    this.watch = w;
    void (async () => {
      try {
        for await (const e of w) {
          this.noteChange(e);
          this.wake();
        }
      } catch {
        // Fell behind: read the whole state again on a fresh watch.
        if (this.started && this.watch === w) {
          this.subscribe();
          this.kick();
        }
      }
    })();
  }

  private async run(): Promise<void> {
    let conflicts = 0;
    while (this.dirty && this.started) {
      // Let a burst of events land before looking.
      await this.pause();
      if (!this.started) return;
      // What came during the pause is in this pass's view: no pass of its own.
      this.dirty = false;
      this.passes++;
      const now = this.clock.now();
      const changes = this.changes;
      this.changes = [];
      let d: Decisions;
      try {
        d = this.opts.store.view((tx) => this.opts.decide(tx, now, changes, this.carry));
        const end = this.clock.now();
        this.paceUntil = end - now < PACE_FROM_MS ? 0 : end + (end - now);
      } catch (err) {
        // A pass that threw (a bug) looks at everything again soon, not only when the next change comes.
        this.settled = false;
        this.changes = undefined;
        this.report(err);
        this.retryLater();
        return;
      }
      this.settled = this.opts.wakesOn !== undefined && d.settled === true;
      this.setTimer(d.wakeAt, changes === undefined);
      if (isEmpty(d)) {
        this.carry = d.carry;
        continue;
      }
      try {
        // A large pass goes out as several transactions (one entry each: all at once stalled a leader for
        // seconds and cost it its leadership), proposed one after the other with a turn of the event loop
        // between them, without waiting for each to commit: raft carries them in order and every member
        // applies a bounded amount at a time (maxCommittedSizePerReady). One that conflicts makes the loop
        // decide again on the state the others left.
        await writeInParts(this.opts.store, splitDecisions(d));
        this.commits++;
        this.carry = d.carry;
        // More to do that no store event will ask for (a scale-up made a slice at a time): go on.
        if (d.carry !== undefined) this.dirty = true;
        conflicts = 0;
      } catch (err) {
        if (isShoalError(err, 'conflict') || isShoalError(err, 'not_found')) {
          // The state moved under the pass: decide again on the new one.
          this.giveBack(changes);
          if (++conflicts < MAX_CONFLICTS) this.dirty = true;
          else {
            this.report(err);
            this.retryLater();
          }
        } else {
          // Not written (the log refused it: leadership moving, storage): nothing may ask again (what the
          // pass saw was handled, the rest of a scale-up rides on its carry), so look at everything again soon.
          this.giveBack(changes);
          this.report(err);
          this.retryLater();
        }
      }
    }
  }

  private retryLater(): void {
    if (this.cancelRetry || !this.started) return;
    this.cancelRetry = this.clock.timer(this.clock.now() + RETRY_AFTER_FAILURE_MS, () => {
      this.cancelRetry = undefined;
      this.kick();
    });
  }

  /**
   * A pass over everything sets the timer its answer asks for (or none); one over some changes only brings it
   * forward (its answer says nothing of the rest). The timer's pass looks at everything.
   */
  private setTimer(at: number | undefined, full: boolean): void {
    if (!full && (at === undefined || (this.timerAt !== undefined && this.timerAt <= at))) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer =
      at === undefined
        ? undefined
        : this.clock.timer(at, () => {
            this.timerAt = undefined;
            this.kick();
          });
  }

  /**
   * Before a pass: a turn of the event loop, or until as long as the last pass took has gone by since it
   * decided (PACE_FROM_MS). Waiting for its commit counts: at 1,000 nodes a scale-up pass of ~80 ms waited
   * ~0.3 s for its commit, then as long again as it took.
   */
  private pause(): Promise<void> {
    const wait = this.paceUntil - this.clock.now();
    if (wait <= 0) return new Promise((r) => setImmediate(r));
    return new Promise((r) => {
      const end = () => {
        this.cancelPause = undefined;
        r();
      };
      const cancel = this.clock.timer(this.clock.now() + wait, end);
      // stop() must not wait for the pause to run out: it ends it at once and the loop sees !started.
      this.cancelPause = () => {
        cancel();
        end();
      };
    });
  }

  private report(err: unknown): void {
    (this.opts.onError ?? ((e) => console.error(`${this.opts.name}:`, e)))(err);
  }
}

async function writeInParts(store: Store, parts: readonly Decisions[]): Promise<void> {
  const written: Promise<unknown>[] = [];
  for (const part of parts) {
    if (written.length > 0) await new Promise((r) => setImmediate(r));
    written.push(store.update((tx) => applyDecisions(tx, part)));
  }
  const failed = (await Promise.allSettled(written)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The loops as one component for runWhileLeader (manager/raft/replicated.ts): only the leader runs them. */
export function loopsComponent(loops: readonly ReconcileLoop[]): LeaderComponent {
  return {
    start: () => {
      for (const l of loops) l.start();
    },
    stop: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
