import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskFullError, StoragePermissionError, WalCorruptError } from '../../manager/raft/wal/errors.js';
import { segmentDataEnd, Wal, type WalEntry } from '../../manager/raft/wal/wal.js';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const meta = Buffer.from('node-7');
const ent = (index: number, term: number, fill = index & 0xff, size = 40): WalEntry => ({
  index,
  term,
  type: 'normal',
  data: Buffer.alloc(size, fill),
});
const indexes = (es: WalEntry[]) => es.map((e) => e.index);

describe('WAL', () => {
  it('replays entries, the latest hard state and the metadata it was created with', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [ent(1, 1), ent(2, 1)], hardState: { term: 1, vote: 3, commit: 1 } });
    wal.append({ entries: [ent(3, 2)], hardState: { term: 2, vote: 0, commit: 3 } });
    wal.close();
    const { wal: w2, state } = Wal.open(dir, Buffer.from('ignored'), null);
    expect(Buffer.from(state.meta).toString()).toBe('node-7');
    expect(state.hardState).toEqual({ term: 2, vote: 0, commit: 3 });
    expect(indexes(state.entries)).toEqual([1, 2, 3]);
    expect(state.entries[2]).toEqual(ent(3, 2));
    // The segment is preallocated with zeros; appends continue at the end of the records, not of the file.
    const file = w2.segmentFiles()[0];
    expect(fs.statSync(file).size).toBeGreaterThan(segmentDataEnd(file));
    w2.append({ entries: [ent(4, 2)] });
    w2.close();
    expect(indexes(Wal.open(dir, meta, null).state.entries)).toEqual([1, 2, 3, 4]);
  });

  it('replays a follower overwriting its tail: the conflicting entries and everything after them are dropped', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [1, 2, 3, 4, 5].map((i) => ent(i, 1)) });
    wal.append({ entries: [ent(3, 2, 0xaa), ent(4, 2, 0xbb)] });
    wal.append({ entries: [ent(5, 3, 0xcc)] });
    wal.close();
    const { state } = Wal.open(dir, meta, null);
    expect(state.entries.map((e) => [e.index, e.term, e.data[0]])).toEqual([
      [1, 1, 1],
      [2, 1, 2],
      [3, 2, 0xaa],
      [4, 2, 0xbb],
      [5, 3, 0xcc],
    ]);
  });

  it('starts after the snapshot and honours a snapshot reset of the log', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [1, 2, 3, 4, 5, 6].map((i) => ent(i, 1)) });
    // A follower installs a leader snapshot at 8 (term 3): its stale tail 5..6 must not survive.
    wal.append({ snapshotReset: { index: 8, term: 3 }, hardState: { term: 3, vote: 0, commit: 8 } });
    wal.append({ entries: [ent(9, 3), ent(10, 3)] });
    wal.close();
    const { state } = Wal.open(dir, meta, { index: 8, term: 3 });
    expect(indexes(state.entries)).toEqual([9, 10]);
    expect(() => Wal.open(dir, meta, { index: 4, term: 1 })).toThrow(/newest snapshot file is at 4/);
  });

  it('rolls over to new segments and removes segments wholly before a snapshot', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null, { segmentBytes: 1024 });
    for (let i = 1; i <= 60; i++)
      wal.append({ entries: [ent(i, 1, i, 100)], hardState: { term: 1, vote: 1, commit: i } });
    const before = wal.segmentFiles().length;
    expect(before).toBeGreaterThan(5);
    const removed = wal.releaseTo(30);
    expect(removed).toBeGreaterThan(0);
    expect(wal.segmentFiles().length).toBe(before - removed);
    wal.close();
    const { state } = Wal.open(dir, meta, { index: 30, term: 1 }, { segmentBytes: 1024 });
    expect(indexes(state.entries)).toEqual(Array.from({ length: 30 }, (_, i) => 31 + i));
    expect(state.hardState?.commit).toBe(60);
  });

  it('truncates a torn final record (partial payload) and keeps appending after it', () => {
    const dir = tmp();
    const logs: string[] = [];
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [ent(1, 1), ent(2, 1)] });
    wal.append({ entries: [ent(3, 1)] });
    const file = wal.segmentFiles()[0];
    wal.close();
    // The last 7 bytes of the final record never reached the disk (they read as zeros).
    const end = segmentDataEnd(file);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(7), 0, 7, end - 7);
    fs.closeSync(fd);
    const { wal: w2, state } = Wal.open(dir, meta, null, { log: (m) => logs.push(m) });
    expect(indexes(state.entries)).toEqual([1, 2]);
    expect(logs.join('\n')).toMatch(/truncating torn tail/);
    w2.append({ entries: [ent(3, 2)] });
    w2.close();
    expect(indexes(Wal.open(dir, meta, null).state.entries)).toEqual([1, 2, 3]);
  });

  it('truncates a final batch with a bad checksum or a partial header', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [ent(1, 1)] });
    wal.append({ entries: [ent(2, 1)] });
    const file = wal.segmentFiles()[0];
    wal.close();
    const buf = fs.readFileSync(file);
    buf[segmentDataEnd(file) - 3] ^= 0x40; // last record's payload damaged, nothing after it
    fs.writeFileSync(file, buf);
    expect(indexes(Wal.open(dir, meta, null).state.entries)).toEqual([1]);
    fs.appendFileSync(file, Buffer.from([5, 0, 0])); // three bytes of a header that never finished
    expect(indexes(Wal.open(dir, meta, null).state.entries)).toEqual([1]);
  });

  it('refuses to open when a record in the middle is damaged, naming the file and offset', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    for (let i = 1; i <= 5; i++) wal.append({ entries: [ent(i, 1)] });
    const file = wal.segmentFiles()[0];
    wal.close();
    const buf = fs.readFileSync(file);
    const target = Math.floor(segmentDataEnd(file) / 2);
    buf[target] ^= 0x01;
    fs.writeFileSync(file, buf);
    let err: unknown;
    try {
      Wal.open(dir, meta, null);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WalCorruptError);
    const c = err as WalCorruptError;
    expect(c.file).toBe(file);
    expect(c.offset).toBeLessThanOrEqual(target);
    expect(c.offset).toBeGreaterThan(target - 80);
    expect(c.message).toContain(file);
    expect(c.message).toContain(`offset ${c.offset}`);
    expect(fs.statSync(file).size).toBe(buf.length); // nothing was truncated
  });

  it('a damaged length in a middle batch header is corruption, not a torn tail to cut off', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null);
    const ends: number[] = [];
    const file = () => wal.segmentFiles()[0];
    for (let i = 1; i <= 5; i++) {
      wal.append({ entries: [ent(i, 1)] });
      ends.push(segmentDataEnd(file()));
    }
    const f = file();
    wal.close();
    const buf = fs.readFileSync(f);
    // The third batch starts where the second ended; its first 4 bytes are the header record's length.
    const at = ends[1];
    buf.writeUInt32LE(0x10000005, at);
    fs.writeFileSync(f, buf);
    let err: unknown;
    try {
      Wal.open(dir, meta, null);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as WalCorruptError).offset).toBe(at);
    expect(fs.statSync(f).size).toBe(buf.length);
  });

  it('treats damage in an older segment as corruption even at its end', () => {
    const dir = tmp();
    const { wal } = Wal.open(dir, meta, null, { segmentBytes: 512 });
    for (let i = 1; i <= 20; i++) wal.append({ entries: [ent(i, 1, i, 100)] });
    const first = wal.segmentFiles()[0];
    wal.close();
    const end = segmentDataEnd(first);
    const fd = fs.openSync(first, 'r+');
    fs.writeSync(fd, Buffer.alloc(5), 0, 5, end - 5);
    fs.closeSync(fd);
    expect(() => Wal.open(dir, meta, null, { segmentBytes: 512 })).toThrow(WalCorruptError);
  });
});

// Needs root (mount); the test machine and CI run as root.
describe('WAL on a full disk', () => {
  let mnt = '';
  let open: Wal | null = null;
  afterEach(() => {
    open?.close();
    open = null;
    if (mnt) {
      execFileSync('umount', [mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
      mnt = '';
    }
  });

  it('fails the append with DiskFullError, leaves no partial record, and works once space returns', () => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-walfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    const dir = path.join(mnt, 'wal');
    const { wal } = Wal.open(dir, meta, null);
    open = wal;
    wal.append({ entries: [ent(1, 1)] });
    const file = wal.segmentFiles()[0];
    const sizeBefore = fs.statSync(file).size;
    const filler = path.join(mnt, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC: the file system is now full.
    }
    let err: unknown;
    try {
      wal.append({ entries: [ent(2, 1, 2, 64 * 1024)] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiskFullError);
    expect((err as DiskFullError).code).toBe('ENOSPC');
    expect(fs.statSync(file).size).toBe(sizeBefore);
    fs.rmSync(filler);
    wal.append({ entries: [ent(2, 1, 2, 64 * 1024)] });
    wal.close();
    open = null;
    const { wal: w2, state } = Wal.open(dir, meta, null);
    w2.close();
    expect(indexes(state.entries)).toEqual([1, 2]);
    expect(state.entries[1].data.length).toBe(64 * 1024);
  });

  it('fails with StoragePermissionError on a read-only file system, leaving the WAL intact', () => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-walro-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    const dir = path.join(mnt, 'rw', 'wal');
    const { wal } = Wal.open(dir, meta, null);
    wal.append({ entries: [ent(1, 1)] });
    wal.close();
    // The same directory seen through a read-only bind mount.
    const ro = path.join(mnt, 'ro');
    fs.mkdirSync(ro);
    execFileSync('mount', ['--bind', path.join(mnt, 'rw'), ro]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      for (const target of [path.join(ro, 'wal'), path.join(ro, 'fresh')]) {
        let err: unknown;
        try {
          Wal.open(target, meta, null);
        } catch (e) {
          err = e;
        }
        expect(err, String(err)).toBeInstanceOf(StoragePermissionError);
        expect((err as StoragePermissionError).code).toBe('EROFS');
        expect((err as StoragePermissionError).message).toContain(target);
      }
    } finally {
      execFileSync('umount', [ro]);
    }
    const { wal: again, state } = Wal.open(dir, meta, null);
    expect(indexes(state.entries)).toEqual([1]);
    again.close();
  });
});
