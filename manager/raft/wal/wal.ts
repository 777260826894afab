// Write-ahead log: numbered segment files of CRC32C-framed records (see record.ts).
//
// Durability contract: append() returns only after the batch's records are written and fdatasync'ed,
// so the caller may acknowledge entries and grant votes afterwards. One append() is one write and one
// fsync however many entries it carries (group commit). A failed append truncates the segment back to
// its last good length, so a half-written record can never be followed by valid ones.
//
// Recovery rules on open: a damaged record at the very end of the last segment is a torn write of a batch
// that was never acknowledged; it is truncated and logged. Anything else that fails its checksum or
// framing is corruption and open() throws WalCorruptError naming the file and offset.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatVersionError, type StorageError, storageError, WalCorruptError } from './errors.js';
import { ensureDir, fsyncDir, writeFully } from './fsutil.js';
import {
  BATCH_START_SIZE,
  decodeBatchStart,
  decodeEntry,
  decodeHardState,
  decodeSegmentHeader,
  decodeSnapshotReset,
  entryRecordSize,
  FORMAT_VERSION,
  hardStateRecordSize,
  putBatchStart,
  putEntry,
  putHardState,
  putSnapshotReset,
  RECORD_HEADER,
  RecordType,
  readU32,
  recordChecksumOk,
  segmentHeaderRecord,
  snapshotResetRecordSize,
  type WalEntry,
  type WalHardState,
} from './record.js';

export type { WalEntry, WalHardState } from './record.js';

export interface WalOptions {
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes?: number;
  /** Turning fsync off is for throwaway tests only; it breaks the durability contract. */
  fsync?: boolean;
  log?: (msg: string) => void;
}

export interface SnapshotBase {
  index: number;
  term: number;
}

export interface WalBatch {
  hardState?: WalHardState | null;
  entries?: readonly WalEntry[];
  /** The log is replaced by a snapshot at this point (a follower installing the leader's snapshot). */
  snapshotReset?: SnapshotBase | null;
  /** False only when nothing but the commit index changed (losing it in a crash is harmless). */
  sync?: boolean;
}

export interface PendingWrite {
  prevSize: number;
  seg: Segment;
  maxIndex: number;
  hardState: WalHardState | null;
  sync: boolean;
}

/** Where append time goes, for status() and the benchmark (milliseconds, since open). */
export interface WalStats {
  /** Zero-fill extensions of the open segment and the time they took on the event loop. */
  preallocs: number;
  preallocMs: number;
  maxPreallocMs: number;
  /** Longest synchronous part of an append (preallocation + record write). */
  maxWriteMs: number;
  /** Longest fdatasync, from issuing it until its completion was seen. */
  maxFsyncMs: number;
  rollovers: number;
}

export interface WalState {
  /** Caller metadata stored in every segment header (e.g. the node id); fixed at creation. */
  meta: Uint8Array;
  hardState: WalHardState | null;
  /** Contiguous entries following `base`. */
  entries: WalEntry[];
  /** The point the log starts after: the newest snapshot, or a later snapshot reset found in the WAL. */
  base: SnapshotBase;
}

interface Segment {
  seq: number;
  file: string;
  /** Highest raft index recorded in the segment (entries and snapshot resets), 0 if none. */
  maxIndex: number;
}

const SEGMENT_RE = /^([0-9a-f]{16})\.wal$/;
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Segments grow in zero-filled steps of this size: overwriting allocated blocks lets fdatasync skip the
 * file system journal (no size change), which keeps its latency low when the disk is busy. */
const PREALLOC_CHUNK = 1024 * 1024;
/** Written PREALLOC_CHUNK / its size times per step: a whole chunk of zeros would sit in every manager's memory. */
const ZEROS = Buffer.alloc(64 * 1024);

export function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

export class Wal {
  private fd = -1;
  private size = 0;
  /** Set when a failed write could not be rolled back; every later append first repairs the tail. */
  private dirtyTail = false;
  private pending: PendingWrite | null = null;
  /** Bytes of the open segment on disk (>= size: the rest is zero-filled preallocation). */
  private allocated = 0;
  /** Preallocation failed in this segment (e.g. disk nearly full): just append. */
  private noPrealloc = false;
  /** Where a batch is encoded; grows (doubling) to the largest batch seen. */
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private readonly counters: WalStats = {
    preallocs: 0,
    preallocMs: 0,
    maxPreallocMs: 0,
    maxWriteMs: 0,
    maxFsyncMs: 0,
    rollovers: 0,
  };
  private lastHardState: WalHardState | null;
  private readonly segmentBytes: number;
  private readonly doFsync: boolean;
  private readonly log: (msg: string) => void;

  private constructor(
    readonly dir: string,
    private readonly segments: Segment[],
    private readonly meta: Uint8Array,
    hardState: WalHardState | null,
    opts: WalOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.doFsync = opts.fsync ?? true;
    this.log = opts.log ?? (() => {});
    this.lastHardState = hardState;
  }

  /**
   * Opens (or creates, with `meta`) the WAL in `dir` and replays it on top of `snapshot` (the newest
   * durable snapshot, or null). Throws WalCorruptError or a StorageError.
   */
  static open(
    dir: string,
    meta: Uint8Array,
    snapshot: SnapshotBase | null,
    opts: WalOptions = {},
  ): { wal: Wal; state: WalState } {
    ensureDir(dir);
    const log = opts.log ?? (() => {});
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      throw storageError('list', dir, err);
    }
    const segs: Segment[] = names
      .map((n) => SEGMENT_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number.parseInt(m[1], 16), file: path.join(dir, m[0]), maxIndex: 0 }))
      .sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < segs.length; i++) {
      if (segs[i].seq !== segs[i - 1].seq + 1) {
        throw new WalCorruptError(
          segs[i].file,
          0,
          `segment sequence gap after ${segmentName(segs[i - 1].seq)}`,
        );
      }
    }

    const base: SnapshotBase = snapshot ? { ...snapshot } : { index: 0, term: 0 };
    const st: WalState = { meta, hardState: null, entries: [], base };
    let storedMeta: Uint8Array | null = null;

    let tailEnd = 0;
    for (let i = 0; i < segs.length; i++) {
      const last = i === segs.length - 1;
      const seg = segs[i];
      const result = replaySegment(seg, st, base, last);
      if (result.meta && !storedMeta) storedMeta = result.meta;
      if (last) tailEnd = result.end;
      if (result.truncateTo !== null) {
        if (result.truncateTo === 0) {
          // Crashed while creating this segment: not even its header is durable.
          log(`wal: removing empty torn segment ${seg.file}`);
          fs.rmSync(seg.file, { force: true });
          segs.pop();
          fsyncDir(dir);
        } else {
          log(`wal: truncating torn tail of ${seg.file} at offset ${result.truncateTo} (${result.reason})`);
          try {
            fs.truncateSync(seg.file, result.truncateTo);
          } catch (err) {
            throw storageError('truncate', seg.file, err);
          }
        }
      }
    }
    if (storedMeta) st.meta = storedMeta;

    const wal = new Wal(dir, segs, st.meta, st.hardState, opts);
    if (segs.length === 0) wal.createSegment(1);
    else wal.openTail(tailEnd);
    return { wal, state: st };
  }

  /** Appends the batch and makes it durable. On error nothing of the batch counts as written. */
  append(batch: WalBatch): void {
    const p = this.write(batch);
    if (!p) return;
    if (p.sync) {
      const t0 = performance.now();
      try {
        fs.fdatasyncSync(this.fd);
        this.noteFsync(performance.now() - t0);
      } catch (err) {
        this.abort(p);
        throw storageError('fsync', p.seg.file, err);
      }
    }
    this.commit(p);
  }

  /**
   * First half of an append: writes the batch into the open segment (page cache) without waiting for the
   * disk. Finish it with sync(). Nothing else may be written until then. Returns null for an empty batch.
   */
  write(batch: WalBatch): PendingWrite | null {
    if (this.fd < 0) {
      throw storageError('append', this.dir, Object.assign(new Error('WAL is closed'), { code: 'EBADF' }));
    }
    if (this.pending) throw new Error('WAL: write while the previous batch is still being synced');
    if (this.dirtyTail) this.repairTail();
    const entries = batch.entries ?? [];
    const hs = batch.hardState ?? null;
    const reset = batch.snapshotReset ?? null;
    if (entries.length === 0 && !hs && !reset) return null;

    const t0 = performance.now();
    if (this.size >= this.segmentBytes) this.rollover();

    let body = 0;
    if (reset) body += snapshotResetRecordSize(reset.index, reset.term);
    for (let i = 0; i < entries.length; i++) body += entryRecordSize(entries[i]);
    if (hs) body += hardStateRecordSize(hs);
    const len = BATCH_START_SIZE + body;
    if (this.scratch.length < len) this.scratch = Buffer.allocUnsafe(Math.max(len, this.scratch.length * 2));
    const buf = this.scratch;
    let off = putBatchStart(buf, 0, body);
    let maxIndex = 0;
    if (reset) {
      off = putSnapshotReset(buf, off, reset.index, reset.term);
      maxIndex = reset.index;
    }
    for (let i = 0; i < entries.length; i++) {
      off = putEntry(buf, off, entries[i]);
      if (entries[i].index > maxIndex) maxIndex = entries[i].index;
    }
    if (hs) off = putHardState(buf, off, hs);

    const seg = this.segments[this.segments.length - 1];
    this.preallocate(this.size + len);
    try {
      writeFully(this.fd, buf, len, this.size);
    } catch (err) {
      this.rollBack(seg.file);
      throw storageError('append', seg.file, err);
    }
    const writeMs = performance.now() - t0;
    if (writeMs > this.counters.maxWriteMs) this.counters.maxWriteMs = writeMs;
    const p: PendingWrite = {
      prevSize: this.size,
      seg,
      maxIndex,
      hardState: hs ? { term: hs.term, vote: hs.vote, commit: hs.commit } : null,
      sync: this.doFsync && batch.sync !== false,
    };
    this.size += len;
    this.pending = p;
    return p;
  }

  /**
   * Second half of an append: fdatasync in the thread pool, so the event loop keeps receiving proposals
   * and messages meanwhile (they form the next batch). On failure the batch is cut off again.
   */
  sync(p: PendingWrite, cb: (err: StorageError | null) => void): void {
    if (!p.sync) {
      this.commit(p);
      cb(null);
      return;
    }
    const fd = this.fd;
    const t0 = performance.now();
    fs.fdatasync(fd, (err) => {
      if (this.fd !== fd) {
        cb(
          storageError(
            'fsync',
            p.seg.file,
            Object.assign(new Error('WAL closed during fsync'), { code: 'EBADF' }),
          ),
        );
        return;
      }
      if (err) {
        this.abort(p);
        cb(storageError('fsync', p.seg.file, err));
        return;
      }
      this.noteFsync(performance.now() - t0);
      this.commit(p);
      cb(null);
    });
  }

  private noteFsync(ms: number): void {
    if (ms > this.counters.maxFsyncMs) this.counters.maxFsyncMs = ms;
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  private commit(p: PendingWrite): void {
    this.pending = null;
    if (p.maxIndex > p.seg.maxIndex) p.seg.maxIndex = p.maxIndex;
    if (p.hardState) this.lastHardState = p.hardState;
  }

  private abort(p: PendingWrite): void {
    this.pending = null;
    this.size = p.prevSize;
    this.rollBack(p.seg.file);
  }

  /** Removes whole segments (never the open one) whose records all lie at or before `index`. */
  releaseTo(index: number): number {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[0].maxIndex <= index) {
      const seg = this.segments[0];
      try {
        fs.rmSync(seg.file, { force: true });
      } catch (err) {
        throw storageError('remove', seg.file, err);
      }
      this.segments.shift();
      removed++;
    }
    if (removed > 0) fsyncDir(this.dir);
    return removed;
  }

  segmentFiles(): string[] {
    return this.segments.map((s) => s.file);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private openTail(end: number): void {
    const seg = this.segments[this.segments.length - 1];
    try {
      this.fd = fs.openSync(seg.file, 'r+');
      this.allocated = fs.fstatSync(this.fd).size;
    } catch (err) {
      throw storageError('open', seg.file, err);
    }
    this.size = end;
  }

  /** Best effort: extends the open segment with zeros so appends overwrite allocated blocks. */
  private preallocate(end: number): void {
    if (end <= this.allocated || this.noPrealloc) return;
    const target = Math.max(end, Math.min(this.allocated + PREALLOC_CHUNK, this.segmentBytes));
    let pos = this.allocated;
    const t0 = performance.now();
    try {
      while (pos < target) {
        const n = Math.min(ZEROS.length, target - pos);
        writeFully(this.fd, ZEROS, n, pos);
        pos += n;
      }
      this.allocated = target;
      const ms = performance.now() - t0;
      const c = this.counters;
      c.preallocs++;
      c.preallocMs += ms;
      if (ms > c.maxPreallocMs) c.maxPreallocMs = ms;
    } catch {
      // Out of space (or similar): give the partial zeros back and append without preallocation.
      this.noPrealloc = true;
      try {
        fs.ftruncateSync(this.fd, Math.max(this.allocated, this.size));
      } catch {
        // the record write that follows reports the real error
      }
    }
  }

  private createSegment(seq: number): void {
    const file = path.join(this.dir, segmentName(seq));
    const header = segmentHeaderRecord(seq, this.meta);
    let body: Buffer = header;
    if (this.lastHardState) {
      // Every segment restates the hard state so older segments can be removed independently.
      const hsLen = hardStateRecordSize(this.lastHardState);
      const hsBuf = Buffer.allocUnsafe(BATCH_START_SIZE + hsLen);
      putHardState(hsBuf, putBatchStart(hsBuf, 0, hsLen), this.lastHardState);
      body = Buffer.concat([header, hsBuf]);
    }
    let fd = -1;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
      writeFully(fd, body, body.length, 0);
      if (this.doFsync) fs.fdatasyncSync(fd);
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw storageError('create segment', file, err);
    }
    try {
      if (this.doFsync) fsyncDir(this.dir);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = fd;
    this.size = body.length;
    this.allocated = body.length;
    this.noPrealloc = false;
    this.segments.push({ seq, file, maxIndex: 0 });
  }

  private rollover(): void {
    const seq = this.segments[this.segments.length - 1].seq + 1;
    this.createSegment(seq);
    this.counters.rollovers++;
  }

  /** Cuts the segment back to its last durable length after a failed write or fsync. */
  private rollBack(file: string): void {
    try {
      fs.ftruncateSync(this.fd, this.size);
      this.allocated = this.size;
      if (this.doFsync) fs.fdatasyncSync(this.fd);
      this.dirtyTail = false;
    } catch {
      this.dirtyTail = true;
      this.log(`wal: could not roll back ${file} to ${this.size}; will retry before the next append`);
    }
  }

  private repairTail(): void {
    const file = this.segments[this.segments.length - 1].file;
    try {
      fs.ftruncateSync(this.fd, this.size);
      this.allocated = this.size;
      if (this.doFsync) fs.fdatasyncSync(this.fd);
      this.dirtyTail = false;
    } catch (err) {
      throw storageError('repair', file, err);
    }
  }
}

interface SegmentReplay {
  meta: Uint8Array | null;
  truncateTo: number | null;
  reason: string;
  /** Where the valid records end (the rest, if any, is zero-filled preallocation). */
  end: number;
}

type Pending =
  | { kind: 'entry'; entry: WalEntry; off: number }
  | { kind: 'hardState'; hs: WalHardState }
  | { kind: 'reset'; index: number; off: number };

/**
 * Replays one segment into `st`. Records after the header come in batches (BatchStart + records); a
 * batch is applied only once all its records check out. A damaged batch is a torn write only if it is
 * the final batch of the final segment (nothing was written after it, so it was never acknowledged).
 */
function replaySegment(seg: Segment, st: WalState, base: SnapshotBase, last: boolean): SegmentReplay {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(seg.file);
  } catch (err) {
    throw storageError('read', seg.file, err);
  }
  const size = buf.length;
  const meta = readSegmentHeader(seg, buf, last);
  if (meta === null) return { meta: null, truncateTo: 0, reason: 'torn segment header', end: 0 };
  let off = RECORD_HEADER + readU32(buf, 0);

  while (off < size) {
    const batchOff = off;
    // A batch followed by nothing but preallocated zeros may be a write that never completed.
    const finalWrite = (batchEnd: number) => last && (batchEnd >= size || allZero(buf, batchEnd, size));
    const fail = (at: number, reason: string, batchEnd: number): SegmentReplay => {
      if (finalWrite(batchEnd)) {
        return { meta, truncateTo: batchOff, reason: `${reason} at offset ${at}`, end: batchOff };
      }
      throw new WalCorruptError(seg.file, at, reason);
    };
    const check = checkRecord(buf, off);
    if (check !== null) {
      if (allZero(buf, off, size)) break; // the preallocated, never written rest of the segment
      // Without a readable batch header we cannot bound the batch: torn only if it plainly ends the file
      // (the file ends inside the header, or nothing but zeros follows it). A length field pointing past the
      // end while data follows is a damaged length, not a tear: truncating there would drop good batches.
      const plainTail = size - off < BATCH_START_SIZE || allZero(buf, off + BATCH_START_SIZE, size);
      return fail(off, check, plainTail ? size : off);
    }
    if (buf[off + 8] !== RecordType.BatchStart) {
      throw new WalCorruptError(seg.file, off, `expected a batch header, found record type ${buf[off + 8]}`);
    }
    let bodyBytes: number;
    try {
      bodyBytes = decodeBatchStart(
        buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + readU32(buf, off)),
      );
    } catch (err) {
      throw new WalCorruptError(seg.file, off, `batch header: ${(err as Error).message}`);
    }
    const batchEnd = off + BATCH_START_SIZE + bodyBytes;
    off += BATCH_START_SIZE;
    if (batchEnd > size) return fail(off, 'batch runs past end of file', batchEnd);
    const pending: Pending[] = [];
    while (off < batchEnd) {
      const bad = checkRecord(buf, off, batchEnd);
      if (bad !== null) return fail(off, bad, batchEnd);
      const len = readU32(buf, off);
      const end = off + RECORD_HEADER + len;
      const type = buf[off + 8];
      const payload = buf.subarray(off + RECORD_HEADER, end);
      // The checksum matched, so a payload that does not decode was written wrong: corruption, not a tear.
      try {
        if (type === RecordType.Entry) {
          pending.push({ kind: 'entry', off, entry: decodeEntry(payload) });
        } else if (type === RecordType.HardState) {
          pending.push({ kind: 'hardState', hs: decodeHardState(payload) });
        } else if (type === RecordType.SnapshotReset) {
          pending.push({ kind: 'reset', index: decodeSnapshotReset(payload).index, off });
        } else {
          throw new Error(`unexpected record type ${type} of ${len} bytes in a batch`);
        }
      } catch (err) {
        throw new WalCorruptError(seg.file, off, (err as Error).message);
      }
      off = end;
    }
    for (const r of pending) {
      if (r.kind === 'hardState') st.hardState = r.hs;
      else if (r.kind === 'entry') {
        if (r.entry.index > seg.maxIndex) seg.maxIndex = r.entry.index;
        applyEntry(st, base, r.entry, seg.file, r.off);
      } else {
        if (r.index > seg.maxIndex) seg.maxIndex = r.index;
        if (r.index > base.index) {
          throw new WalCorruptError(
            seg.file,
            r.off,
            `log was reset to a snapshot at index ${r.index}, but the newest snapshot file is at ${base.index}`,
          );
        }
        // Entries written before the reset belonged to a log the snapshot replaced.
        st.entries.length = 0;
      }
    }
  }
  return { meta, truncateTo: null, reason: '', end: off };
}

/** Where the records of a segment file end (tests and tools; the file is only read). */
export function segmentDataEnd(file: string): number {
  const buf = fs.readFileSync(file);
  let off = RECORD_HEADER + readU32(buf, 0);
  while (off < buf.length && checkRecord(buf, off) === null && buf[off + 8] === RecordType.BatchStart) {
    const end = off + BATCH_START_SIZE + readU32(buf, off + RECORD_HEADER + 1);
    if (end > buf.length) break;
    off = end;
  }
  return off;
}

/** Returns why the record at `off` cannot be used (framing or checksum), or null if it is intact. */
function checkRecord(buf: Buffer, off: number, limit = buf.length): string | null {
  if (limit - off < RECORD_HEADER) return 'incomplete record header';
  const len = readU32(buf, off);
  if (off + RECORD_HEADER + len > limit)
    return `record of ${len} bytes runs past the end of its batch or file`;
  if (!recordChecksumOk(buf, off, len)) return 'checksum mismatch';
  return null;
}

/** Validates the segment header; null means a torn header of the last segment (crash while creating it). */
function readSegmentHeader(seg: Segment, buf: Buffer, last: boolean): Uint8Array | null {
  const bad = checkRecord(buf, 0);
  if (bad !== null) {
    if (last && (buf.length < RECORD_HEADER + 12 || allZero(buf, 0, buf.length))) return null;
    throw new WalCorruptError(seg.file, 0, `segment header: ${bad}`);
  }
  if (buf[8] !== RecordType.SegmentHeader) throw new WalCorruptError(seg.file, 0, 'missing segment header');
  let header: ReturnType<typeof decodeSegmentHeader>;
  try {
    header = decodeSegmentHeader(buf.subarray(RECORD_HEADER, RECORD_HEADER + readU32(buf, 0)));
  } catch (err) {
    throw new WalCorruptError(seg.file, 0, `segment header: ${(err as Error).message}`);
  }
  // Before anything else of the segment is interpreted: its records follow this version's rules.
  if (header.formatVersion !== FORMAT_VERSION) {
    throw new FormatVersionError(seg.file, 'WAL segment header', header.formatVersion, FORMAT_VERSION);
  }
  if (header.sequence !== seg.seq) {
    throw new WalCorruptError(seg.file, 0, 'segment header sequence does not match the file name');
  }
  return header.member;
}

function applyEntry(st: WalState, base: SnapshotBase, e: WalEntry, file: string, off: number): void {
  if (e.index <= base.index) return;
  const ents = st.entries;
  const next = ents.length === 0 ? base.index + 1 : ents[ents.length - 1].index + 1;
  if (e.index > next) {
    throw new WalCorruptError(file, off, `entry ${e.index} leaves a gap (expected at most ${next})`);
  }
  // A lower index means the leader overwrote our tail: the new entry replaces it and all after it.
  if (e.index < next) ents.length = e.index - base.index - 1;
  ents.push(e);
}

function allZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}
