// Snapshot files: one per snapshot, named <term>-<index>.snap (hex), written atomically (temp file,
// fsync, rename, directory fsync) and checksummed with CRC32C. Only the newest snapshot is kept: the
// WAL segments before it are removed once it is durable, so an older one could not be replayed anyway.
//
// Layout (storage.proto): "SHOALSNP" | u32 crc32c(everything after it) | u32 headerLength |
// SnapshotFileHeader (format version, index, term, conf state, data length) | data.
// The magic, checksum, header length and the header's field 1 (format_version) never move, so a reader
// can always tell a newer format from a damaged file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SnapshotFileHeader } from '../../../proto/gen/shoal/raft/v1/storage.js';
import type { ConfState } from '../core/types.js';
import { crc32c } from '../wal/crc32c.js';
import { FormatVersionError, SnapshotCorruptError, storageError } from '../wal/errors.js';
import { ensureDir, fsyncDir, writeFileAtomic } from '../wal/fsutil.js';
import { readU32 } from '../wal/record.js';

export interface SnapshotFile {
  index: number;
  term: number;
  /** The configuration at `index`. */
  confState: ConfState;
  /** The snapshot's payload (for a raft node: an encoded NodeSnapshot). */
  data: Uint8Array;
}

const MAGIC = 'SHOALSNP';
/** The snapshot file format this build writes and the only one it reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
const FIXED = 8 + 4 + 4;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

function hex(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function snapshotFileName(term: number, index: number): string {
  return `${hex(term)}-${hex(index)}.snap`;
}

/** The file's bytes before the data: magic, checksum (covering `data` too), header. */
export function encodeSnapshotHead(s: SnapshotFile, formatVersion = SNAPSHOT_FORMAT_VERSION): Buffer {
  const header = SnapshotFileHeader.encode({
    formatVersion,
    metadata: {
      index: s.index,
      term: s.term,
      confState: { voters: [...s.confState.voters], learners: [...s.confState.learners] },
    },
    dataBytes: s.data.length,
  }).finish();
  const head = Buffer.alloc(FIXED + header.length);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(header.length, 12);
  head.set(header, FIXED);
  const c = crc32c(s.data, crc32c(head, 0, 12));
  head.writeUInt32LE(c, 8);
  return head;
}

/** Parses and checks a whole snapshot file's bytes; `file` names it in errors. */
export function decodeSnapshotFile(file: string, buf: Buffer): SnapshotFile {
  if (buf.length < FIXED || buf.toString('latin1', 0, 8) !== MAGIC) {
    throw new SnapshotCorruptError(file, 'bad header');
  }
  if (crc32c(buf, 0, 12) !== readU32(buf, 8)) throw new SnapshotCorruptError(file, 'checksum mismatch');
  const headerLen = readU32(buf, 12);
  if (FIXED + headerLen > buf.length) throw new SnapshotCorruptError(file, 'header runs past the end');
  let h: SnapshotFileHeader;
  try {
    h = SnapshotFileHeader.decode(buf.subarray(FIXED, FIXED + headerLen));
  } catch (err) {
    throw new SnapshotCorruptError(file, `header: ${(err as Error).message}`);
  }
  if (h.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    throw new FormatVersionError(file, 'snapshot file', h.formatVersion, SNAPSHOT_FORMAT_VERSION);
  }
  const m = h.metadata;
  if (!m) throw new SnapshotCorruptError(file, 'header has no metadata');
  const data = buf.subarray(FIXED + headerLen);
  if (data.length !== h.dataBytes) {
    throw new SnapshotCorruptError(file, `data is ${data.length} bytes, header says ${h.dataBytes}`);
  }
  const cs = m.confState ?? { voters: [], learners: [] };
  return { index: m.index, term: m.term, confState: { voters: cs.voters, learners: cs.learners }, data };
}

export class Snapshotter {
  constructor(
    readonly dir: string,
    private readonly log: (msg: string) => void = () => {},
  ) {
    ensureDir(dir);
    // Leftovers of a save interrupted before its rename are never valid snapshots.
    for (const n of fs.readdirSync(dir)) {
      if (n.endsWith('.snap.tmp')) {
        this.log(`snapshot: removing unfinished ${n}`);
        fs.rmSync(path.join(dir, n), { force: true });
      }
    }
  }

  /** Durably stores the snapshot, then removes older snapshot files. */
  save(s: SnapshotFile): void {
    const name = snapshotFileName(s.term, s.index);
    writeFileAtomic(this.dir, name, [encodeSnapshotHead(s), s.data]);
    let removed = false;
    for (const f of this.list()) {
      if (f.name !== name && f.index <= s.index) {
        fs.rmSync(path.join(this.dir, f.name), { force: true });
        removed = true;
      }
    }
    if (removed) fsyncDir(this.dir);
  }

  /** The newest snapshot, or null if there is none. A damaged newest snapshot is an error, not skipped. */
  loadNewest(): SnapshotFile | null {
    const files = this.list();
    if (files.length === 0) return null;
    const newest = files[files.length - 1];
    const file = path.join(this.dir, newest.name);
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (err) {
      throw storageError('read', file, err);
    }
    const snap = decodeSnapshotFile(file, buf);
    if (snap.index !== newest.index || snap.term !== newest.term) {
      throw new SnapshotCorruptError(file, 'contents do not match the file name');
    }
    return snap;
  }

  private list(): { name: string; term: number; index: number }[] {
    return fs
      .readdirSync(this.dir)
      .map((n) => NAME_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], term: Number.parseInt(m[1], 16), index: Number.parseInt(m[2], 16) }))
      .sort((a, b) => a.index - b.index || a.term - b.term);
  }
}
