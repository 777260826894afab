import { MemoryStorage, MemoryStorageReads } from '../core/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';
import type { DriverStorage, LogWrite } from '../node/driver.js';
import type { Rng } from './prng.js';

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

  /** The storage a restarted node finds (the page cache is rebuilt from the durable state). */
  recover(): MemoryStorage {
    const s = new MemoryStorage();
    if (this.snapshot) s.applySnapshot(this.snapshot);
    s.append(this.entries.filter((e) => e.index > (this.snapshot?.metadata.index ?? 0)));
    s.setHardState(this.hardState);
    this.storage = s;
    return s;
  }
}

export interface SimStorageEnv {
  rng: Rng;
  /** fsync takes 0..maxSyncDelay ticks. */
  maxSyncDelay: number;
  faultRate: () => number;
  now: () => number;
  at: (t: number, fn: () => void) => void;
  /** Entries about to enter the log; termAt reads the log after the write. */
  observeAppend: (entries: readonly Entry[], termAt: (i: number) => number | undefined) => void;
  onSync: () => void;
  onFault: () => void;
  onSnapshot: () => void;
}

export class SimWriteError extends Error {}

/**
 * The driver's storage in the simulator: writes go to the page cache (SimDisk.storage) at once and become
 * durable when their fsync completes 0..maxSyncDelay ticks later. A write may fail (nothing is written); a
 * crash (crash()) drops the completion and everything unsynced.
 */
export class SimStorage extends MemoryStorageReads implements DriverStorage {
  private dead = false;

  constructor(
    readonly disk: SimDisk,
    private readonly env: SimStorageEnv,
  ) {
    super();
  }

  protected get mem(): MemoryStorage {
    return this.disk.storage;
  }

  write(w: LogWrite, done: (err: Error | null) => void): void {
    const env = this.env;
    const s = this.mem;
    const needsSync = w.sync || w.snapshot !== undefined || w.hardState !== undefined;
    const at = env.now() + (needsSync ? env.rng.int(env.maxSyncDelay + 1) : 0);
    const rate = env.faultRate();
    if (rate > 0 && env.rng.chance(rate)) {
      env.onFault();
      env.at(at, () => {
        if (!this.dead) done(new SimWriteError('simulated write failure'));
      });
      return;
    }
    if (w.snapshot) s.applySnapshot(w.snapshot);
    s.append(w.entries);
    if (w.hardState) s.setHardState(w.hardState);
    env.observeAppend(w.entries, (i) => {
      if (i < s.firstIndex() - 1 || i > s.lastIndex()) return undefined;
      return s.term(i);
    });
    env.at(at, () => {
      if (this.dead) return;
      this.disk.sync();
      env.onSync();
      done(null);
    });
  }

  saveSnapshot(index: number, cs: ConfState, data: Uint8Array, keep: number, limit: number): void {
    const s = this.mem;
    const snap = s.createSnapshot(index, cs, data);
    const compactTo = Math.min(index - keep, limit);
    if (compactTo >= s.firstIndex()) s.compact(compactTo);
    this.disk.saveSnapshot(snap);
    this.env.onSnapshot();
  }

  /** The process died: a write in flight never completes. */
  crash(): void {
    this.dead = true;
  }
}
