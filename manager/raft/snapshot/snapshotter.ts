// Snapshot files: one per snapshot, named <term>-<index>.snap (hex), written atomically (temp file,
// fsync, rename, directory fsync) and checksummed with CRC32C. Only the newest snapshot is kept: the
// WAL segments before it are removed once it is durable, so an older one could not be replayed anyway.
//
// Layout: "SHOALSNP" | u8 version | u32 crc32c(rest) | u64 index | u64 term | u32 metaLen | meta | data
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32c } from '../wal/crc32c.js';
import { SnapshotCorruptError, storageError } from '../wal/errors.js';
import { ensureDir, fsyncDir, writeFileAtomic } from '../wal/fsutil.js';
import { readU32, readU64, writeU64 } from '../wal/record.js';

export interface SnapshotFile {
  index: number;
  term: number;
  /** Opaque metadata owned by the caller (the encoded membership at `index`). */
  meta: Uint8Array;
  /** The state machine's serialized state. */
  data: Uint8Array;
}

const MAGIC = 'SHOALSNP';
const VERSION = 1;
const FIXED = 8 + 1 + 4 + 8 + 8 + 4;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

function hex(n: number): string {
  return n.toString(16).padStart(16, '0');
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
    const head = Buffer.alloc(FIXED);
    head.write(MAGIC, 0, 'latin1');
    head[8] = VERSION;
    writeU64(head, 13, s.index);
    writeU64(head, 21, s.term);
    head.writeUInt32LE(s.meta.length, 29);
    let c = crc32c(head, 0, 13, FIXED);
    c = crc32c(s.meta, c);
    c = crc32c(s.data, c);
    head.writeUInt32LE(c, 9);
    const name = `${hex(s.term)}-${hex(s.index)}.snap`;
    writeFileAtomic(this.dir, name, [head, s.meta, s.data]);
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
    if (buf.length < FIXED || buf.toString('latin1', 0, 8) !== MAGIC) {
      throw new SnapshotCorruptError(file, 'bad header');
    }
    if (buf[8] !== VERSION) throw new SnapshotCorruptError(file, `unsupported version ${buf[8]}`);
    if (crc32c(buf, 0, 13) !== readU32(buf, 9)) throw new SnapshotCorruptError(file, 'checksum mismatch');
    const index = readU64(buf, 13);
    const term = readU64(buf, 21);
    const metaLen = readU32(buf, 29);
    if (index !== newest.index || term !== newest.term || FIXED + metaLen > buf.length) {
      throw new SnapshotCorruptError(file, 'contents do not match the file name');
    }
    return {
      index,
      term,
      meta: buf.subarray(FIXED, FIXED + metaLen),
      data: buf.subarray(FIXED + metaLen),
    };
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
