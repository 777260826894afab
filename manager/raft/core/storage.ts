import type { ConfState, Entry, HardState, LogStorage, Snapshot } from './types.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './types.js';
import { limitSize } from './util.js';

export function emptySnapshot(): Snapshot {
  return {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(0),
  };
}

/**
 * LogStorage in memory: the log after the latest snapshot. ents[0] is a placeholder holding the snapshot's
 * index and term, so term(snapshotIndex) answers without the snapshot itself.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private get offset(): number {
    return this.ents[0].index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  entries(lo: number, hi: number, maxSize?: number): Entry[] {
    if (lo <= this.offset)
      throw new CompactedError(`entries: index ${lo} is compacted (first ${this.offset + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new UnavailableError(`entries: index ${hi - 1} is past the last index ${this.lastIndex()}`);
    }
    return limitSize(this.ents.slice(lo - this.offset, hi - this.offset), maxSize);
  }

  term(i: number): number {
    if (i < this.offset) throw new CompactedError(`term: index ${i} is compacted (first ${this.offset + 1})`);
    if (i > this.lastIndex())
      throw new UnavailableError(`term: index ${i} is past the last index ${this.lastIndex()}`);
    return this.ents[i - this.offset].term;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(
        `applySnapshot: index ${snap.metadata.index} is not newer than ${this.snap.metadata.index}`,
      );
    }
    this.snap = snap;
    this.ents = [
      { term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: new Uint8Array(0) },
    ];
  }

  /** Records the state machine's snapshot at applied index i (the log is kept; compact() drops it). */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(
        `createSnapshot: index ${i} is not newer than ${this.snap.metadata.index}`,
      );
    }
    if (i > this.lastIndex())
      throw new UnavailableError(`createSnapshot: index ${i} > last index ${this.lastIndex()}`);
    this.snap = { metadata: { index: i, term: this.term(i), confState }, data };
    return this.snap;
  }

  /** Drops entries up to and including i (which must be covered by a snapshot the caller made). */
  compact(i: number): void {
    if (i <= this.offset) throw new CompactedError(`compact: index ${i} is already compacted`);
    if (i > this.lastIndex())
      throw new UnavailableError(`compact: index ${i} > last index ${this.lastIndex()}`);
    const at = i - this.offset;
    const head: Entry = { term: this.ents[at].term, index: i, type: 'normal', data: new Uint8Array(0) };
    this.ents = [head, ...this.ents.slice(at + 1)];
  }

  /** Appends entries, replacing any existing ones at or after entries[0].index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1].index;
    if (last < first) return;
    const fresh = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const at = fresh[0].index - this.offset;
    if (at > this.ents.length) {
      throw new UnavailableError(`append: gap, entry ${fresh[0].index} after last index ${this.lastIndex()}`);
    }
    // Truncate any conflicting suffix in place, then append: O(appended), not O(log).
    this.ents.length = at;
    for (const e of fresh) this.ents.push(e);
  }
}

/**
 * Reads answered by a MemoryStorage (the driver storages of the tests and the simulator differ only in how
 * they write). `mem` may change over time (the simulator swaps it on a crash).
 */
export abstract class MemoryStorageReads implements LogStorage {
  protected abstract get mem(): MemoryStorage;
  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxSize?: number): Entry[] {
    return this.mem.entries(lo, hi, maxSize);
  }
  term(i: number): number {
    return this.mem.term(i);
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }
}
