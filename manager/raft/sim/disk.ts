import { MemoryStorage } from '../core/storage.js';
import type { Entry, HardState, Snapshot } from '../core/types.js';

/**
 * What survives a crash. The node writes to a MemoryStorage (the page cache); sync() makes the current
 * contents durable (fsync). A crash rebuilds the storage from the last sync, losing the unsynced tail.
 */
export class SimDisk {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snapshot?: Snapshot;
  private entries: Entry[] = [];
  syncs = 0;

  constructor(
    public storage: MemoryStorage,
    /** Injected bug for checker tests: fsync returns without making anything durable, except every n-th. */
    private readonly lieEvery = 0,
  ) {}

  sync(): void {
    this.syncs++;
    if (this.lieEvery > 0 && this.syncs % this.lieEvery !== 0) return;
    const s = this.storage;
    this.hardState = s.initialState().hardState;
    const snap = s.snapshot();
    this.snapshot = snap.metadata.index > 0 ? snap : undefined;
    this.entries = s.lastIndex() >= s.firstIndex() ? s.entries(s.firstIndex(), s.lastIndex() + 1) : [];
  }

  /** The durable hard state and last index, for checking what was acknowledged. */
  durable(): { hardState: HardState; lastIndex: number; termAt: (i: number) => number | undefined } {
    const snapIndex = this.snapshot?.metadata.index ?? 0;
    const last = this.entries.length > 0 ? this.entries[this.entries.length - 1].index : snapIndex;
    return {
      hardState: this.hardState,
      lastIndex: Math.max(last, snapIndex),
      termAt: (i) => {
        if (i === snapIndex) return this.snapshot?.metadata.term ?? 0;
        const first = this.entries[0]?.index;
        if (first === undefined || i < first || i > last) return undefined;
        return this.entries[i - first].term;
      },
    };
  }

  /** Snapshots are written with their own fsync+rename, durable at once; older log entries are dropped. */
  saveSnapshot(snap: Snapshot): void {
    this.snapshot = snap;
    this.entries = this.entries.filter((e) => e.index > snap.metadata.index);
  }

  /** The storage a restarted node finds. */
  recover(): MemoryStorage {
    const s = new MemoryStorage();
    if (this.snapshot) s.applySnapshot(this.snapshot);
    s.append(this.entries.filter((e) => e.index > (this.snapshot?.metadata.index ?? 0)));
    s.setHardState(this.hardState);
    this.storage = s;
    return s;
  }
}
