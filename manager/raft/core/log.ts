import type { Entry, LogStorage, Snapshot } from './types.js';
import { CompactedError, RaftError, UnavailableError } from './types.js';
import { limitSize } from './util.js';

/** Entries and a snapshot received but not yet persisted; they shadow storage from `offset` on. */
export class Unstable {
  snapshot?: Snapshot;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  firstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  term(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot && this.snapshot.metadata.index === i ? this.snapshot.metadata.term : undefined;
    }
    const last = this.lastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset].term;
  }

  /** Entries up to (i, t) are durable. A mismatched term means they were replaced meanwhile: keep them. */
  stableTo(i: number, t: number): void {
    if (i < this.offset) return;
    const gt = this.term(i);
    if (gt !== t) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // Replaces entries that may already be in storage; the driver overwrites them on persist.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The Raft log: storage (durable) followed by unstable (not yet durable). */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed by a quorum. */
  committed: number;
  /** Highest index the application applied (advance()). */
  applied: number;
  /** Highest index handed to the application in a Ready not yet advanced. */
  applying: number;

  constructor(
    readonly storage: LogStorage,
    private readonly maxApplyingSize: number,
  ) {
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // The storage may keep some entries before its snapshot (for slow followers); the snapshot is applied.
    const start = Math.max(storage.firstIndex() - 1, storage.snapshot().metadata.index);
    this.committed = start;
    this.applied = start;
    this.applying = start;
  }

  firstIndex(): number {
    return this.unstable.firstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** Term at i; throws CompactedError before firstIndex()-1 and UnavailableError after lastIndex(). */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new CompactedError(`term: index ${i} is compacted`);
    if (i > this.lastIndex()) throw new UnavailableError(`term: index ${i} > last index ${this.lastIndex()}`);
    return this.unstable.term(i) ?? this.storage.term(i);
  }

  /** Term at i, or 0 when i is out of range (compacted or not yet appended). */
  zeroTermOnOutOfRange(i: number): number {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return 0;
    try {
      return this.term(i);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0;
      throw err;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return false;
    try {
      return this.term(i) === t;
    } catch (err) {
      if (err instanceof CompactedError) return false;
      throw err;
    }
  }

  /** A follower's append: returns the last new index, or undefined when (index, logTerm) does not match. */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftError(`log: entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0].index - 1 < this.committed) {
      throw new RaftError(`log: append at ${ents[0].index} would overwrite committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** First index whose term differs from ours (0 if all match; a new index if all existing ones match). */
  findConflict(ents: Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index <= index whose term is <= term, with that term: where a leader at `term` could match us.
   * Lets a rejection skip a whole term of divergent entries at once (fast backtracking).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    if (index > this.lastIndex()) return [index, 0];
    for (let i = index; i > 0; i--) {
      let ours: number;
      try {
        ours = this.term(i);
      } catch {
        return [i, 0];
      }
      if (ours <= term) return [i, ours];
    }
    return [0, 0];
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet handed to the application, waiting for a pending snapshot first. */
  nextCommittedEnts(maxSize: number): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxSize > 0 ? maxSize : this.maxApplyingSize);
  }

  hasNextCommittedEnts(): boolean {
    if (this.unstable.snapshot) return false;
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    if (this.lastIndex() < toCommit) {
      throw new RaftError(`log: commit ${toCommit} is past the last index ${this.lastIndex()}`);
    }
    this.committed = toCommit;
  }

  /** Commits maxIndex only if it is from `term`: earlier terms' entries commit indirectly (paper §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.zeroTermOnOutOfRange(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  acceptApplying(i: number): void {
    this.applying = Math.max(this.applying, i);
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    this.applied = Math.max(this.applied, i);
    this.applying = Math.max(this.applying, i);
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** The highest index whose entry is durable (for the leader's own acknowledgement). */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from i to the end, within maxSize bytes. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  slice(lo: number, hi: number, maxSize?: number): Entry[] {
    if (lo > hi) throw new RaftError(`log: invalid slice ${lo} > ${hi}`);
    if (maxSize !== undefined && maxSize <= 0) maxSize = undefined; // no limit
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(`log: index ${lo} is compacted (first ${first})`);
    if (hi > this.lastIndex() + 1)
      throw new UnavailableError(`log: slice end ${hi} past ${this.lastIndex() + 1}`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      ents = this.storage.entries(lo, Math.min(hi, off), maxSize);
      // Storage stopped early because of the size limit: don't add unstable entries after a gap.
      if (ents.length < Math.min(hi, off) - lo) return ents;
    }
    if (hi > off) ents = ents.concat(this.unstable.slice(Math.max(lo, off), hi));
    return limitSize(ents, maxSize);
  }
}
