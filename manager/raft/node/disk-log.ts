// DiskStorage (WAL + snapshot files) as the driver's storage: one Ready = one WAL write, fsynced in the
// thread pool; the core's view of the log moves only once the write is durable.
import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';
import type { DiskStorage } from '../wal/disk-storage.js';
import { StorageError, storageError } from '../wal/errors.js';
import type { DriverStorage, LogWrite } from './driver.js';

export class DiskLog implements DriverStorage {
  constructor(readonly disk: DiskStorage) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.disk.initialState();
  }
  entries(lo: number, hi: number, maxSize?: number): Entry[] {
    return this.disk.entries(lo, hi, maxSize);
  }
  term(i: number): number {
    return this.disk.term(i);
  }
  firstIndex(): number {
    return this.disk.firstIndex();
  }
  lastIndex(): number {
    return this.disk.lastIndex();
  }
  snapshot(): Snapshot {
    return this.disk.snapshot();
  }

  write(w: LogWrite, done: (err: Error | null) => void): void {
    try {
      if (w.snapshot) {
        // Rare (a follower installing the leader's snapshot): done synchronously.
        this.disk.persist(w.hardState, w.entries, w.snapshot, true);
        done(null);
        return;
      }
      this.disk.persistAsync(w.hardState, w.entries, w.sync, done);
    } catch (err) {
      throw err instanceof StorageError
        ? err
        : storageError('persist', this.disk.walSegments()[0] ?? '', err);
    }
  }

  saveSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array,
    keepEntries: number,
    compactLimit: number,
  ): void {
    this.disk.createSnapshot(index, confState, data, keepEntries, compactLimit);
  }
}
