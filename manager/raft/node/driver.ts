// The one Ready loop. Production (RaftNode over the WAL and gRPC), the simulator (over its simulated disk
// and network) and the core's unit tests (TestCluster) all run this class, so every optimisation that ships
// — early sends, early applies, batching many proposals into one fsync, storage-fault recovery — runs under
// the simulator's checkers too. Storage, transport, clock and scheduler are injected; nothing here reads the
// wall clock or schedules work directly.
//
// Per Ready: start the write → send `messages` and apply the already-durable committed prefix while it runs
// → once durable: send `messagesAfterAppend`, install the snapshot, apply the rest, answer reads, advance.
// Which messages may leave early is the core's decision (Ready.messages / messagesAfterAppend,
// RawNode.takeMessages); this loop never looks at message types.
//
// A failed write never leaves the core believing in entries that are not durable: the core is rebuilt from
// what the storage holds (like a crash restart, but keeping the process) and the failure is reported.
import { decodeConfChange } from '../core/confchange.js';
import { RawNode } from '../core/rawnode.js';
import type {
  ConfChange,
  Config,
  ConfState,
  Entry,
  HardState,
  LogStorage,
  Message,
  NodeId,
  ProposalTicket,
  ReadState,
  Ready,
  Snapshot,
  SoftState,
} from '../core/types.js';
import type { Clock, Scheduler } from './clock.js';

/** One Ready's writes. */
export interface LogWrite {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  /** fsync before reporting durable (term/vote, entries or a snapshot changed). */
  sync: boolean;
}

/** The durable log under the driver. The core reads it (LogStorage) and sees only what is durable. */
export interface DriverStorage extends LogStorage {
  /**
   * Starts writing one Ready; calls done(null) once it is durable (possibly before returning), or done(err)
   * when it failed — then nothing of it is visible through LogStorage. May throw for an immediate failure.
   */
  write(w: LogWrite, done: (err: Error | null) => void): void;
  /**
   * Records the application's snapshot at applied `index` durably, then compacts the log before it, keeping
   * `keepEntries` entries and never compacting past `compactLimit`.
   */
  saveSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array,
    keepEntries: number,
    compactLimit: number,
  ): void;
}

export interface DriverTransport {
  send(msgs: Message[]): void;
}

export type { Scheduler } from './clock.js';

/** What the driver applies committed entries to and snapshots. */
export interface Application {
  /** A committed normal entry with data; the result goes to the `applied` hook. */
  apply(e: Entry): unknown;
  snapshot(): Uint8Array;
  /**
   * Optional: captures the state as of the last applied entry now and serializes it later, off the call
   * (a large state encoded at once held every member's event loop for seconds, long enough for elections).
   */
  snapshotLater?(): Promise<Uint8Array>;
  restore(data: Uint8Array): void;
}

/** A snapshot captured at `index` whose bytes the application is still making. */
interface PendingSnapshot {
  index: number;
  conf: ReturnType<RawNode['confState']>;
  applied: number;
  startedAt: number;
  data?: Uint8Array;
  error?: Error;
}

export interface DriverHooks {
  /** Every entry applied here (no-ops and conf changes too), in index order, after `applied` moved. */
  applied?(e: Entry, result: unknown): void;
  confChange?(cc: ConfChange, e: Entry): void;
  readStates?(rs: ReadState[]): void;
  softState?(s: SoftState, term: number): void;
  snapshotInstalled?(index: number): void;
  /** A write failed; the core was rebuilt from storage. `sentUpTo`: highest entry index sent to peers. */
  storageFault?(err: Error, info: { durableIndex: number; sentUpTo: number }): void;
  storageRecovered?(): void;
  /** After each tick and each completed Ready (conditions that waiters poll). */
  progressed?(): void;
}

/** Deliberately broken behaviours, for tests proving the simulator's checkers catch them. Never in production. */
export interface UnsafeMutations {
  /** Send acknowledgements and votes (messagesAfterAppend) before the write is durable. */
  ackBeforeFsync?: boolean;
  /** Apply this Ready's new entries as soon as they are written, before they are committed. */
  applyBeforeCommit?: boolean;
}

export interface DriverOptions {
  id: NodeId;
  storage: DriverStorage;
  transport: DriverTransport;
  clock: Clock;
  scheduler: Scheduler;
  app: Application;
  /** The core's configuration (id, storage and applied are filled in by the driver). */
  raft: Omit<Config, 'id' | 'storage' | 'applied'>;
  /** Snapshot and compact every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept behind a snapshot for slightly lagging followers. */
  keepEntries: number;
  hooks?: DriverHooks;
  log?: (msg: string) => void;
  unsafe?: UnsafeMutations;
}

export interface DriverStats {
  readies: number;
  syncedWrites: number;
  entriesPersisted: number;
  persistMs: number;
  maxPersistMs: number;
  snapshots: number;
  maxSnapshotMs: number;
  /** Messages sent before their Ready's write was durable, and Readies applied partly during the write. */
  earlyMessages: number;
  earlyApplies: number;
}

export class RaftDriver {
  private _core: RawNode;
  private readonly storage: DriverStorage;
  private readonly hooks: DriverHooks;
  private readonly log: (msg: string) => void;
  private _applied = 0;
  private _snapshotIndex = 0;
  private snapshotRetryAt = 0;
  private pendingSnapshot: PendingSnapshot | undefined;
  private scheduled = false;
  private earlyScheduled = false;
  /** A Ready's write is in flight; the next Ready waits for advance(). */
  private inReady = false;
  private stopped = false;
  private fault: Error | null = null;
  /** Highest entry index sent to peers, possibly before it was durable here. */
  private sentUpTo = 0;
  private tickTimer: unknown = null;
  /** The founding voters until the bootstrap entries are durable (a failed first write must not lose them). */
  private founders?: NodeId[];
  readonly stats: DriverStats = {
    readies: 0,
    syncedWrites: 0,
    entriesPersisted: 0,
    persistMs: 0,
    maxPersistMs: 0,
    snapshots: 0,
    maxSnapshotMs: 0,
    earlyMessages: 0,
    earlyApplies: 0,
  };

  constructor(private readonly o: DriverOptions) {
    this.storage = o.storage;
    this.hooks = o.hooks ?? {};
    this.log = o.log ?? (() => {});
    const snap = this.storage.snapshot();
    if (snap.metadata.index > 0) {
      o.app.restore(snap.data);
      this._applied = snap.metadata.index;
      this._snapshotIndex = snap.metadata.index;
    }
    this._core = this.newCore();
    this.sentUpTo = this.storage.lastIndex();
  }

  /** The core (read it; drive it through the driver so the Ready loop runs). Rebuilt after a storage fault. */
  get core(): RawNode {
    return this._core;
  }

  get applied(): number {
    return this._applied;
  }

  get snapshotIndex(): number {
    return this._snapshotIndex;
  }

  /** The last write failure while writes keep failing; null once a write succeeded again. */
  get storageFault(): Error | null {
    return this.fault;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  // ---- inputs ----

  bootstrap(voters: NodeId[]): void {
    this._core.bootstrap(voters);
    this.founders = voters;
    this.schedule();
  }

  tick(): void {
    if (this.stopped) return;
    this._core.tick();
    this.afterInput();
    this.hooks.progressed?.();
  }

  /** Ticks every `ms` on the injected clock until stop(). */
  startTicking(ms: number): void {
    if (this.stopped || this.tickTimer !== null) return;
    const next = () => {
      this.tickTimer = this.o.clock.setTimeout(() => {
        this.tickTimer = null;
        if (this.stopped) return;
        this.tick();
        next();
      }, ms);
    };
    next();
  }

  step(m: Message): void {
    if (this.stopped) return;
    try {
      this._core.step(m);
    } catch (err) {
      this.log(`raft: step ${m.type} from ${m.from} failed: ${(err as Error).message}`);
      return;
    }
    this.afterInput();
  }

  /** Throws ProposalDroppedError; undefined when forwarded to the leader. */
  propose(data: Uint8Array): ProposalTicket | undefined {
    const t = this._core.propose(data);
    this.afterInput();
    return t;
  }

  proposeConfChange(cc: ConfChange): ProposalTicket | undefined {
    const t = this._core.proposeConfChange(cc);
    this.afterInput();
    return t;
  }

  readIndex(ctx: Uint8Array): void {
    this._core.readIndex(ctx);
    this.afterInput();
  }

  transferLeadership(to: NodeId): void {
    this._core.transferLeadership(to);
    this.afterInput();
  }

  /** Members removed earlier (the application remembers them): dropped and never added again. */
  markRemoved(ids: Iterable<NodeId>): void {
    this._core.markRemoved(ids);
  }

  campaign(): void {
    this._core.campaign();
    this.afterInput();
  }

  reportUnreachable(id: NodeId): void {
    if (this.stopped) return;
    this._core.reportUnreachable(id);
    this.schedule();
  }

  reportPeerLost(id: NodeId): void {
    if (this.stopped) return;
    this._core.reportPeerLost(id);
    this.schedule();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.stopped) return;
    this._core.reportSnapshot(id, ok);
    this.schedule();
  }

  /** Stops ticking and processing; a write still in flight is ignored when it completes. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) this.o.clock.clearTimeout(this.tickTimer);
    this.tickTimer = null;
  }

  // ---- the loop ----

  private afterInput(): void {
    if (this.inReady) this.scheduleEarlySend();
    this.schedule();
  }

  /** Runs the loop soon (coalesced: many inputs in one turn make one Ready, i.e. one fsync). */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.o.scheduler.defer(() => {
      this.scheduled = false;
      this.processReady();
    });
  }

  /** While a write is in flight, what the core lets leave early goes out once per scheduler turn. */
  private scheduleEarlySend(): void {
    if (this.earlyScheduled) return;
    this.earlyScheduled = true;
    this.o.scheduler.defer(() => {
      this.earlyScheduled = false;
      if (!this.inReady || this.stopped) return;
      const ms = this._core.takeMessages();
      this.stats.earlyMessages += ms.length;
      this.send(ms);
    });
  }

  private newCore(): RawNode {
    return new RawNode({
      ...this.o.raft,
      id: this.o.id,
      storage: this.storage,
      // Entries applied ahead of this disk are re-delivered later and skipped.
      applied: Math.min(this._applied, this.storage.lastIndex()),
    });
  }

  private processReady(): void {
    if (this.inReady || this.stopped || !this._core.hasReady()) return;
    const core = this._core;
    const rd = core.ready();
    this.inReady = true;
    const t0 = this.o.clock.now();
    const writes = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    let finished = false;
    let earlyDone = false;
    const finish = (err: Error | null) => {
      if (finished) return;
      finished = true;
      this.inReady = false;
      if (this.stopped || core !== this._core) return;
      if (err) {
        this.onStorageFault(err);
        this.schedule();
        return;
      }
      if (!earlyDone) this.duringWrite(rd);
      this.noteWrite(rd, writes, this.o.clock.now() - t0);
      this.complete(rd);
      this.schedule();
    };
    try {
      if (writes) {
        this.storage.write(
          { hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, sync: rd.mustSync },
          finish,
        );
      } else finish(null);
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!finished) {
      earlyDone = true;
      this.duringWrite(rd);
    }
  }

  /** What may happen before the write is durable: the core's early messages and durable committed prefix. */
  private duringWrite(rd: Ready): void {
    this.stats.earlyMessages += rd.messages.length;
    this.send(rd.messages);
    if (this.o.unsafe?.ackBeforeFsync) {
      this.send(rd.messagesAfterAppend);
      rd.messagesAfterAppend = [];
    }
    if (rd.applyBeforeAppend > 0) {
      this.stats.earlyApplies++;
      this.applyEntries(rd.committedEntries.slice(0, rd.applyBeforeAppend));
    }
    if (this.o.unsafe?.applyBeforeCommit && !rd.snapshot) this.applyEntries(rd.entries);
  }

  /** The write is durable: the rest of the Ready contract, then advance. */
  private complete(rd: Ready): void {
    this.send(rd.messagesAfterAppend);
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    this.applyEntries(rd.committedEntries.slice(rd.applyBeforeAppend));
    if (rd.readStates.length > 0) this.hooks.readStates?.(rd.readStates);
    this._core.advance();
    if (rd.softState) this.hooks.softState?.(rd.softState, this._core.raft.term);
    this.maybeSnapshot();
    this.hooks.progressed?.();
  }

  private send(ms: Message[]): void {
    if (ms.length === 0) return;
    for (const m of ms) {
      const n = m.entries.length;
      if (n > 0 && m.entries[n - 1].index > this.sentUpTo) this.sentUpTo = m.entries[n - 1].index;
    }
    this.o.transport.send(ms);
  }

  private applyEntries(ents: Entry[]): void {
    for (const e of ents) {
      if (e.index <= this._applied) continue;
      if (e.index !== this._applied + 1) break; // never skip an entry (only the unsafe mutation gets here)
      let result: unknown;
      if (e.type === 'confChange') this.applyConfChange(e);
      else if (e.data.length > 0) result = this.o.app.apply(e);
      this._applied = e.index;
      this.hooks.applied?.(e, result);
    }
  }

  private applyConfChange(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch (err) {
      this.log(`raft: skipping undecodable conf change at ${e.index}: ${(err as Error).message}`);
      return;
    }
    this.hooks.confChange?.(cc, e);
  }

  private installSnapshot(s: Snapshot): void {
    this.o.app.restore(s.data);
    this._applied = s.metadata.index;
    this._snapshotIndex = s.metadata.index;
    this.hooks.snapshotInstalled?.(s.metadata.index);
  }

  private noteWrite(rd: Ready, writes: boolean, ms: number): void {
    const st = this.stats;
    st.readies++;
    if (writes && rd.mustSync) st.syncedWrites++;
    st.entriesPersisted += rd.entries.length;
    st.persistMs += ms;
    if (ms > st.maxPersistMs) st.maxPersistMs = ms;
    if (this.founders && this.storage.lastIndex() > 0) this.founders = undefined;
    if (writes && this.fault) {
      this.log(`raft: storage writes succeed again after: ${this.fault.message}`);
      this.fault = null;
      this.hooks.storageRecovered?.();
    }
  }

  private onStorageFault(err: Error): void {
    if (!this.fault)
      this.log(`raft: storage write failed, refusing writes until it recovers: ${err.message}`);
    this.fault = err;
    const durableIndex = this.storage.lastIndex();
    this.hooks.storageFault?.(err, { durableIndex, sentUpTo: this.sentUpTo });
    // Nothing after the durable log is known here any more: start over from the disk, as a crash would.
    const removed = this._core.removedIds();
    this._core = this.newCore();
    this._core.markRemoved(removed);
    // A restarted process with an empty disk bootstraps again (RaftNode does); so does the rebuilt core.
    // Without it this member would learn the founding configuration one entry at a time from the leader,
    // and after "addVoter <self>" alone it would elect itself (sim seed 915, 3 nodes).
    if (this.founders && this.storage.lastIndex() === 0) this._core.bootstrap(this.founders);
    this.sentUpTo = durableIndex;
    const s = this._core.raft.softState();
    this.hooks.softState?.({ leader: s.leader, role: s.role }, this._core.raft.term);
  }

  /** Changes when snapshots are taken and how many entries stay behind one (the cluster's raft settings). */
  setSnapshotPolicy(p: { snapshotEvery?: number; keepEntries?: number }): void {
    if (p.snapshotEvery !== undefined) this.o.snapshotEvery = p.snapshotEvery;
    if (p.keepEntries !== undefined) this.o.keepEntries = p.keepEntries;
  }

  private maybeSnapshot(): void {
    if (this.pendingSnapshot) {
      this.savePendingSnapshot();
      return;
    }
    if (this._applied - this._snapshotIndex < this.o.snapshotEvery) return;
    if (this._applied > this.storage.lastIndex()) return; // applied ahead of this disk: wait for the write
    const now = this.o.clock.now();
    if (now < this.snapshotRetryAt) return;
    if (this.o.app.snapshotLater) {
      // Saved by a later call, here, once the bytes are made: storage is only ever written from this step.
      const p: PendingSnapshot = {
        index: this._applied,
        conf: this._core.confState(),
        applied: this._core.raft.log.applied,
        startedAt: now,
      };
      this.pendingSnapshot = p;
      this.o.app.snapshotLater().then(
        (data) => {
          p.data = data;
        },
        (err: Error) => {
          p.error = err;
        },
      );
      return;
    }
    try {
      const data = this.o.app.snapshot();
      const core = this._core;
      this.storage.saveSnapshot(
        this._applied,
        core.confState(),
        data,
        this.o.keepEntries,
        core.raft.log.applied,
      );
      this._snapshotIndex = this._applied;
      const ms = this.o.clock.now() - now;
      this.stats.snapshots++;
      if (ms > this.stats.maxSnapshotMs) this.stats.maxSnapshotMs = ms;
    } catch (err) {
      // Not fatal: the log just stays longer. Try again a little later.
      this.snapshotRetryAt = now + 1000;
      this.log(`raft: snapshot at ${this._applied} failed: ${(err as Error).message}`);
    }
  }

  private savePendingSnapshot(): void {
    const p = this.pendingSnapshot;
    if (!p || (p.data === undefined && p.error === undefined)) return;
    this.pendingSnapshot = undefined;
    const now = this.o.clock.now();
    // One installed from the leader meanwhile is newer: this one is of no use.
    if (p.index <= this._snapshotIndex) return;
    try {
      if (p.error) throw p.error;
      this.storage.saveSnapshot(p.index, p.conf, p.data as Uint8Array, this.o.keepEntries, p.applied);
      this._snapshotIndex = p.index;
      const ms = now - p.startedAt;
      this.stats.snapshots++;
      if (ms > this.stats.maxSnapshotMs) this.stats.maxSnapshotMs = ms;
    } catch (err) {
      this.snapshotRetryAt = now + 1000;
      this.log(`raft: snapshot at ${p.index} failed: ${(err as Error).message}`);
    }
  }
}
