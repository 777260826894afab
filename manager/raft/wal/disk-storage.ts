// DiskStorage: the core's LogStorage served from memory and backed by the WAL and snapshot files.
// Reads never touch the disk; persist() makes a Ready's entries, hard state and snapshot durable before
// updating the in-memory view, so the core only ever sees what survives a crash.
import {
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type LogStorage,
  type Snapshot,
  SnapshotOutOfDateError,
  UnavailableError,
} from '../core/types.js';
import { Snapshotter } from '../snapshot/snapshotter.js';
import type { StorageError } from './errors.js';
import { Wal, type WalOptions, type WalStats } from './wal.js';

export interface DiskStorageOptions extends WalOptions {
  /** Caller metadata kept in every WAL segment header (a raft node's encoded MemberIdentity); only used
   * when the directory is new. */
  meta?: Uint8Array;
}

export class DiskStorage implements LogStorage {
  private hardState: HardState;
  private snap: Snapshot;
  /** ents[k] has index offset + 1 + k; offset/offsetTerm describe the entry just before them. */
  private ents: Entry[];
  private offset: number;
  private offsetTerm: number;

  private constructor(
    private readonly wal: Wal,
    private readonly snapshotter: Snapshotter,
    /** Metadata the directory was created with. */
    readonly meta: Uint8Array,
    /** True when the directory already held raft state (a restart). */
    readonly restored: boolean,
    hardState: HardState,
    snap: Snapshot,
    ents: Entry[],
  ) {
    this.hardState = hardState;
    this.snap = snap;
    this.ents = ents;
    this.offset = snap.metadata.index;
    this.offsetTerm = snap.metadata.term;
  }

  /** Opens `dir` (creating it if needed): loads the newest snapshot, then replays the WAL after it. */
  static open(dir: string, opts: DiskStorageOptions = {}): DiskStorage {
    const snapshotter = new Snapshotter(`${dir}/snap`, opts.log);
    const file = snapshotter.loadNewest();
    const snap: Snapshot = file
      ? {
          metadata: { index: file.index, term: file.term, confState: file.confState },
          data: file.data,
        }
      : { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };
    const { wal, state } = Wal.open(
      `${dir}/wal`,
      opts.meta ?? new Uint8Array(0),
      file ? { index: file.index, term: file.term } : null,
      opts,
    );
    const hs = state.hardState ?? { term: 0, vote: 0, commit: 0 };
    const restored = state.hardState !== null || state.entries.length > 0 || file !== null;
    // The snapshot is committed by definition even if the hard state recording that was lost.
    if (hs.commit < snap.metadata.index) hs.commit = snap.metadata.index;
    return new DiskStorage(wal, snapshotter, state.meta, restored, hs, snap, state.entries);
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  /** Entries in [lo, hi); with a positive maxSize, stops once that many bytes are reached (always >= 1). */
  entries(lo: number, hi: number, maxSize?: number): Entry[] {
    if (lo <= this.offset)
      throw new CompactedError(`entry ${lo} is compacted (first index ${this.offset + 1})`);
    if (hi > this.lastIndex() + 1)
      throw new UnavailableError(`entry ${hi - 1} is past the last index ${this.lastIndex()}`);
    const from = lo - this.offset - 1;
    const to = hi - this.offset - 1;
    if (maxSize === undefined || maxSize <= 0 || !Number.isFinite(maxSize)) return this.ents.slice(from, to);
    let size = 0;
    let k = from;
    for (; k < to; k++) {
      size += this.ents[k].data.length;
      if (size > maxSize && k > from) break;
    }
    return this.ents.slice(from, k);
  }

  term(i: number): number {
    if (i === this.offset) return this.offsetTerm;
    if (i < this.offset)
      throw new CompactedError(`term of ${i} is compacted (first index ${this.offset + 1})`);
    if (i > this.lastIndex()) throw new UnavailableError(`term of ${i}: last index is ${this.lastIndex()}`);
    return this.ents[i - this.offset - 1].term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  currentHardState(): HardState {
    return this.hardState;
  }

  /**
   * Makes one Ready's writes durable (one WAL write and at most one fsync), then updates the view the
   * core reads. Throws a StorageError with nothing applied if the disk refuses.
   */
  persist(
    hardState: HardState | undefined,
    entries: Entry[],
    snapshot: Snapshot | undefined,
    sync: boolean,
  ): void {
    if (snapshot) {
      const m = snapshot.metadata;
      if (m.index <= this.snap.metadata.index)
        throw new SnapshotOutOfDateError(`snapshot ${m.index} is not newer`);
      this.snapshotter.save({
        index: m.index,
        term: m.term,
        confState: m.confState,
        data: snapshot.data,
      });
      this.wal.append({ snapshotReset: { index: m.index, term: m.term }, entries, hardState, sync: true });
      this.wal.releaseTo(m.index);
      this.snap = snapshot;
      this.ents = [];
      this.offset = m.index;
      this.offsetTerm = m.term;
    } else {
      this.wal.append({ entries, hardState, sync });
    }
    if (hardState) this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    if (entries.length > 0) this.appendInMemory(entries);
  }

  /**
   * The asynchronous form of persist(): the WAL write happens now, the fsync in the thread pool, and the
   * in-memory view is updated (and `done` called) once the batch is durable. Write errors throw at once.
   * Returns true if the fsync is still running (done comes later), false if done was already called.
   */
  persistAsync(
    hardState: HardState | undefined,
    entries: Entry[],
    sync: boolean,
    done: (err: StorageError | null) => void,
  ): boolean {
    // Only the commit index moved: written without an fsync (a crash of the process keeps it; the machine's
    // is rare and costs the same as losing it). It must be written: membership changes take effect when
    // applied, and a restart that re-applies only up to a stale commit index would start with an old
    // configuration (a former sole voter would elect itself alone while the others go on: split brain).
    const p = this.wal.write({ entries, hardState, sync });
    if (!p) {
      done(null);
      return false;
    }
    if (!p.sync) {
      this.wal.sync(p, () => {});
      if (hardState)
        this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
      if (entries.length > 0) this.appendInMemory(entries);
      done(null);
      return false;
    }
    this.wal.sync(p, (err) => {
      if (!err) {
        if (hardState)
          this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
        if (entries.length > 0) this.appendInMemory(entries);
      }
      done(err);
    });
    return true;
  }

  /**
   * Records a snapshot of the state machine at `index` (already applied) durably, then drops WAL segments
   * and in-memory entries that it covers, keeping `keepEntries` entries for slow followers (and never
   * compacting past `compactLimit`, the last index the core itself has applied).
   */
  createSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array,
    keepEntries = 0,
    compactLimit = index,
  ): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(`snapshot ${index} is not newer`);
    if (index > this.lastIndex()) throw new UnavailableError(`snapshot index ${index} is past the log`);
    const term = this.term(index);
    this.snapshotter.save({ index, term, confState, data });
    this.snap = { metadata: { index, term, confState }, data };
    this.wal.releaseTo(index);
    this.compact(Math.min(index - keepEntries, compactLimit));
    return this.snap;
  }

  /** Drops in-memory entries up to and including `index` (never past the snapshot). */
  private compact(index: number): void {
    const upTo = Math.min(index, this.snap.metadata.index);
    if (upTo <= this.offset) return;
    const newTerm = this.term(upTo);
    this.ents = this.ents.slice(upTo - this.offset);
    this.offset = upTo;
    this.offsetTerm = newTerm;
  }

  private appendInMemory(entries: Entry[]): void {
    const first = entries[0].index;
    if (first <= this.offset) {
      // Already compacted part: keep only the new tail beyond it.
      const skip = this.offset + 1 - first;
      if (skip >= entries.length) return;
      this.appendInMemory(entries.slice(skip));
      return;
    }
    const last = this.lastIndex();
    if (first > last + 1) throw new UnavailableError(`append at ${first} leaves a gap after ${last}`);
    // A follower's conflicting tail is replaced from `first` on.
    if (first <= last) this.ents.length = first - this.offset - 1;
    for (let i = 0; i < entries.length; i++) this.ents.push(entries[i]);
  }

  walStats(): WalStats {
    return this.wal.stats();
  }

  walSegments(): string[] {
    return this.wal.segmentFiles();
  }

  close(): void {
    this.wal.close();
  }
}
