// Data written by storage format version 1 (test/raft/fixtures/v1/, made by fixtures/make-v1-data.ts)
// must stay readable, value for value: a change that breaks reading it fails here. Also: versions this
// build does not know are refused by name, old hand-rolled layouts are refused rather than misread, a
// flipped byte is caught by the checksums, and the WAL's hand-written protobuf matches the generated code.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeConfChange,
  encodeConfChange,
  InvalidConfChangeError,
} from '../../manager/raft/core/confchange.js';
import type { Entry } from '../../manager/raft/core/types.js';
import { IdentityMismatchError, RaftNode, type StateMachine } from '../../manager/raft/index.js';
import {
  decodeMeta,
  decodeNodeSnapshot,
  encodeMeta,
  encodeNodeSnapshot,
} from '../../manager/raft/node/snapshot-codec.js';
import { decodeSnapshotFile, encodeSnapshotHead } from '../../manager/raft/snapshot/snapshotter.js';
import { DiskStorage } from '../../manager/raft/wal/disk-storage.js';
import { FormatVersionError, SnapshotCorruptError, WalCorruptError } from '../../manager/raft/wal/errors.js';
import {
  decodeEntry,
  entryRecordSize,
  hardStateRecordSize,
  putBatchStart,
  putEntry,
  putHardState,
  putSnapshotReset,
  RECORD_HEADER,
  readU32,
  sealRecord,
  segmentHeaderRecord,
  snapshotResetRecordSize,
} from '../../manager/raft/wal/record.js';
import { Entry as PbEntry, EntryType as PbEntryType } from '../../proto/gen/shoal/raft/v1/raft.js';
import {
  NodeSnapshot,
  HardState as PbHardState,
  WalBatchStart,
  WalSnapshotReset,
} from '../../proto/gen/shoal/raft/v1/storage.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'v1');
const A1 = '127.0.0.1:4241';
const A2 = '127.0.0.2:4242';
const A3 = '[::1]:4243';
const smState = (label: string) => Buffer.concat([Buffer.from(label), Buffer.from([0, 1, 127, 128, 255])]);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A private copy of a fixture member: opening may repair or extend files, the fixture must not change. */
function copyOf(member: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-format-'));
  dirs.push(d);
  fs.cpSync(path.join(FIXTURE, member), d, { recursive: true });
  return d;
}

const text = (e: Entry) => Buffer.from(e.data).toString();
const snapFile = (dir: string) => path.join(dir, 'snap', fs.readdirSync(path.join(dir, 'snap'))[0]);
const segFile = (dir: string, seq: number) =>
  path.join(dir, 'wal', `${seq.toString(16).padStart(16, '0')}.wal`);

describe('storage format v1 fixture', () => {
  it('member-1: identity, hard state, snapshot with address book, entries and conf changes', () => {
    const dir = copyOf('member-1');
    const s = DiskStorage.open(dir, { segmentBytes: 512 });
    try {
      expect(s.restored).toBe(true);
      expect(decodeMeta(s.meta)).toEqual({
        id: 1,
        peers: [
          [1, A1],
          [2, A2],
        ],
      });
      expect(s.initialState()).toEqual({
        hardState: { term: 4, vote: 0, commit: 14 },
        confState: { voters: [1, 2], learners: [] },
      });
      const snap = s.snapshot();
      expect(snap.metadata).toEqual({ index: 6, term: 2, confState: { voters: [1, 2], learners: [] } });
      const body = decodeNodeSnapshot(snap.data);
      expect([...body.addresses]).toEqual([
        [1, A1],
        [2, A2],
      ]);
      expect(Buffer.from(body.sm).equals(smState('kv a=1 b=2 c=3'))).toBe(true);

      expect([s.firstIndex(), s.lastIndex()]).toEqual([7, 14]);
      const ents = s.entries(7, 15);
      expect(ents.map((e) => [e.index, e.term, e.type])).toEqual([
        [7, 2, 'normal'],
        [8, 2, 'confChange'],
        [9, 2, 'normal'],
        [10, 2, 'confChange'],
        [11, 3, 'normal'],
        [12, 3, 'normal'],
        [13, 4, 'normal'],
        [14, 4, 'normal'],
      ]);
      expect([7, 9, 11, 12, 13, 14].map((i) => text(ents[i - 7]))).toEqual([
        'set d=4',
        'set e=5',
        '',
        'set f=6',
        'set g=8', // the term-4 leader's entry, not the overwritten 'set g=7'
        'set h=9',
      ]);
      const learner = decodeConfChange(ents[1].data);
      expect(learner.type).toBe('addLearner');
      expect(learner.nodeId).toBe(3);
      expect(Buffer.from(learner.context).toString()).toBe(A3);
      const promote = decodeConfChange(ents[3].data);
      expect([promote.type, promote.nodeId, promote.context.length]).toEqual(['promote', 3, 0]);
      expect(s.walSegments().map((f) => path.basename(f))).toEqual([
        '0000000000000001.wal',
        '0000000000000002.wal',
      ]);
    } finally {
      s.close();
    }
  });

  it('member-3: a learner that installed the leader snapshot (snapshot-reset record), then appended', () => {
    const dir = copyOf('member-3');
    const s = DiskStorage.open(dir, { segmentBytes: 512 });
    try {
      expect(decodeMeta(s.meta)).toEqual({ id: 3, peers: [] });
      expect(s.initialState()).toEqual({
        hardState: { term: 3, vote: 0, commit: 13 },
        confState: { voters: [1, 2], learners: [3] },
      });
      const snap = s.snapshot();
      expect(snap.metadata).toEqual({ index: 10, term: 2, confState: { voters: [1, 2], learners: [3] } });
      const body = decodeNodeSnapshot(snap.data);
      expect([...body.addresses]).toEqual([
        [1, A1],
        [2, A2],
        [3, A3],
      ]);
      expect(Buffer.from(body.sm).equals(smState('kv a=1 b=2 c=3 d=4 e=5'))).toBe(true);
      expect(s.term(10)).toBe(2);
      expect(s.entries(11, 14).map((e) => [e.index, e.term, text(e)])).toEqual([
        [11, 3, ''],
        [12, 3, 'set f=6'],
        [13, 3, 'set g=7'],
      ]);
    } finally {
      s.close();
    }
  });

  it('keeps appending to the fixture after reading it', () => {
    const dir = copyOf('member-3');
    const s = DiskStorage.open(dir, { segmentBytes: 512 });
    s.persist(
      { term: 3, vote: 0, commit: 14 },
      [{ index: 14, term: 3, type: 'normal', data: Buffer.from('x') }],
      undefined,
      true,
    );
    s.close();
    const again = DiskStorage.open(dir);
    expect(again.lastIndex()).toBe(14);
    expect(again.initialState().hardState.commit).toBe(14);
    again.close();
  });
});

describe('a raft node on the v1 fixture', () => {
  /** Records what the node hands the state machine. */
  class Recorder implements StateMachine<void> {
    restored: Buffer | null = null;
    applied: [number, string][] = [];
    apply(data: Uint8Array, index: number): void {
      this.applied.push([index, Buffer.from(data).toString()]);
    }
    snapshot(): Uint8Array {
      return new Uint8Array(0);
    }
    restore(data: Uint8Array): void {
      this.restored = Buffer.from(data);
    }
  }

  const nodeOpts = (dataDir: string, id: number, sm: Recorder) => ({
    id,
    dataDir,
    advertiseAddress: A1,
    stateMachine: sm,
    credentials: grpc.credentials.createInsecure(),
    tickMs: 10,
  });

  it('restores the snapshot, the address book and the members, and applies the committed entries', async () => {
    const dir = copyOf('member-1');
    expect(() => RaftNode.start(nodeOpts(dir, 2, new Recorder()))).toThrow(IdentityMismatchError);
    const sm = new Recorder();
    const n = RaftNode.start(nodeOpts(dir, 1, sm));
    try {
      expect(sm.restored?.equals(smState('kv a=1 b=2 c=3'))).toBe(true);
      for (let i = 0; i < 500 && n.status().applied < 14; i++) await new Promise((r) => setTimeout(r, 10));
      expect(sm.applied.filter(([, t]) => t !== '')).toEqual([
        [7, 'set d=4'],
        [9, 'set e=5'],
        [12, 'set f=6'],
        [13, 'set g=8'],
        [14, 'set h=9'],
      ]);
      // Member 3's address came from the conf change at 8, the others from the identity and the snapshot.
      expect(n.status().members).toEqual([
        { id: 1, address: A1, voter: true },
        { id: 2, address: A2, voter: true },
        { id: 3, address: A3, voter: true },
      ]);
    } finally {
      n.stop();
    }
  });
});

describe('format versions', () => {
  it('refuses a WAL segment of a newer format, naming the file, before reading its records', () => {
    const dir = copyOf('member-1');
    const file = segFile(dir, 1);
    const buf = fs.readFileSync(file);
    const oldLen = RECORD_HEADER + readU32(buf, 0);
    const member = encodeMeta({
      id: 1,
      peers: [
        [1, A1],
        [2, A2],
      ],
    });
    const v2 = segmentHeaderRecord(1, member, 2);
    expect(v2.length).toBe(oldLen); // same framing, only the version differs
    v2.copy(buf, 0);
    fs.writeFileSync(file, buf);
    const err = catchErr(() => DiskStorage.open(dir));
    expect(err).toBeInstanceOf(FormatVersionError);
    expect(err).toMatchObject({ file, version: 2, supported: 1, what: 'WAL segment header' });
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(/format version 2; this build reads only version 1/);
  });

  it('refuses a snapshot file of a newer format, naming the file', () => {
    const dir = copyOf('member-1');
    const file = snapFile(dir);
    const snap = decodeSnapshotFile(file, fs.readFileSync(file));
    fs.writeFileSync(file, Buffer.concat([encodeSnapshotHead(snap, 2), snap.data]));
    const err = catchErr(() => DiskStorage.open(dir));
    expect(err).toBeInstanceOf(FormatVersionError);
    expect(err).toMatchObject({ file, version: 2, what: 'snapshot file' });
  });

  it('refuses newer node snapshots, member identities and conf changes', () => {
    const book = new Map([[1, A1]]);
    expect(() => decodeNodeSnapshot(encodeNodeSnapshot(book, smState('x'), 2))).toThrow(FormatVersionError);
    expect(() => decodeNodeSnapshot(encodeNodeSnapshot(book, smState('x'), 2))).toThrow(
      /node snapshot .*version 2/,
    );
    expect(decodeNodeSnapshot(encodeNodeSnapshot(book, smState('x'))).addresses).toEqual(book);
    expect(() => decodeMeta(encodeMeta({ id: 1, peers: [] }, 2))).toThrow(FormatVersionError);
    const cc = { type: 'addLearner' as const, nodeId: 3, context: Buffer.from(A3) };
    expect(() => decodeConfChange(encodeConfChange(cc, 2))).toThrow(InvalidConfChangeError);
    expect(() => decodeConfChange(encodeConfChange(cc, 2))).toThrow(
      /confChange\.formatVersion: 2 is not supported/,
    );
    expect(() => decodeConfChange(encodeConfChange(cc, 0))).toThrow(/confChange\.formatVersion: missing/);
  });

  it('refuses the hand-rolled layouts used before version 1 instead of misreading them', () => {
    // Conf change: [version 1][type 2 = addVoter][f64 node id][context].
    const oldCc = Buffer.alloc(10);
    oldCc[0] = 1;
    oldCc[1] = 2;
    oldCc.writeDoubleLE(3, 2);
    expect(() => decodeConfChange(oldCc)).toThrow(InvalidConfChangeError);
    // Snapshot data: u32 length | JSON address book | state machine.
    const json = Buffer.from(JSON.stringify([[1, A1]]));
    const oldSnap = Buffer.concat([Buffer.alloc(4), json, Buffer.from('sm')]);
    oldSnap.writeUInt32LE(json.length, 0);
    expect(() => decodeNodeSnapshot(oldSnap)).toThrow();
    // WAL segment header: magic | u8 1 | u64 sequence | JSON identity.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-format-'));
    dirs.push(dir);
    const meta = Buffer.from(JSON.stringify({ id: 1, peers: [] }));
    const rec = Buffer.alloc(RECORD_HEADER + 17 + meta.length);
    rec[8] = 1;
    rec.write('SHOALWAL', RECORD_HEADER, 'latin1');
    rec[RECORD_HEADER + 8] = 1;
    rec[RECORD_HEADER + 9] = 1;
    meta.copy(rec, RECORD_HEADER + 17);
    sealRecord(rec, 0, rec.length - RECORD_HEADER);
    fs.mkdirSync(path.join(dir, 'wal'));
    const file = segFile(dir, 1);
    fs.writeFileSync(file, Buffer.concat([rec, rec])); // not the only record, so it is no torn tail
    expect(() => DiskStorage.open(dir)).toThrow(WalCorruptError);
  });
});

describe('checksums on the fixture', () => {
  it('a flipped byte in an earlier WAL segment stops the open with the file and offset', () => {
    const dir = copyOf('member-1');
    const file = segFile(dir, 1);
    const buf = fs.readFileSync(file);
    const at = 200;
    buf[at] ^= 0x20;
    fs.writeFileSync(file, buf);
    const err = catchErr(() => DiskStorage.open(dir));
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as WalCorruptError).file).toBe(file);
    expect((err as WalCorruptError).offset).toBeLessThanOrEqual(at);
    expect((err as WalCorruptError).offset).toBeGreaterThan(at - 80);
  });

  it('a flipped byte in the snapshot file is a checksum mismatch', () => {
    const dir = copyOf('member-3');
    const file = snapFile(dir);
    const buf = fs.readFileSync(file);
    buf[buf.length - 3] ^= 0x01; // in the state machine's bytes
    fs.writeFileSync(file, buf);
    expect(() => DiskStorage.open(dir)).toThrow(SnapshotCorruptError);
    expect(() => DiskStorage.open(dir)).toThrow(/checksum mismatch/);
  });
});

describe('hand-written protobuf equals the generated encoders', () => {
  const payload = (buf: Buffer, off: number) =>
    buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + readU32(buf, off));
  const big = 2 ** 53 - 1;

  it('entries', () => {
    const cases: Entry[] = [
      { index: 1, term: 0, type: 'normal', data: new Uint8Array(0) },
      { index: big, term: big, type: 'confChange', data: Buffer.alloc(300, 7) },
      { index: 128, term: 127, type: 'normal', data: Buffer.from('v') },
    ];
    for (const e of cases) {
      const buf = Buffer.alloc(entryRecordSize(e));
      expect(putEntry(buf, 0, e)).toBe(buf.length);
      const type = e.type === 'normal' ? PbEntryType.ENTRY_TYPE_NORMAL : PbEntryType.ENTRY_TYPE_CONF_CHANGE;
      const pb = PbEntry.encode({ term: e.term, index: e.index, type, data: Buffer.from(e.data) }).finish();
      expect(Buffer.from(payload(buf, 0)).equals(Buffer.from(pb))).toBe(true);
      expect(decodeEntry(pb)).toEqual({ ...e, data: Buffer.from(e.data) });
    }
    expect(() =>
      decodeEntry(PbEntry.encode({ term: 1, index: 1, type: 0, data: Buffer.alloc(0) }).finish()),
    ).toThrow(/unknown entry type/);
  });

  it('node snapshots (the state machine bytes are appended by hand)', () => {
    const book = new Map([
      [1, A1],
      [3, A3],
    ]);
    for (const state of [Buffer.alloc(0), Buffer.from('s'), Buffer.alloc(200_000, 9)]) {
      const pb = NodeSnapshot.encode({
        formatVersion: 1,
        addressBook: [...book].map(([id, address]) => ({ id, address })),
        stateMachine: state,
      }).finish();
      expect(Buffer.from(encodeNodeSnapshot(book, state)).equals(Buffer.from(pb))).toBe(true);
      const back = decodeNodeSnapshot(pb);
      expect(back.addresses).toEqual(book);
      expect(Buffer.from(back.sm).equals(state)).toBe(true);
    }
  });

  it('hard state, snapshot reset and batch start', () => {
    for (const hs of [
      { term: 0, vote: 0, commit: 0 },
      { term: big, vote: 3, commit: 2 ** 35 },
    ]) {
      const buf = Buffer.alloc(hardStateRecordSize(hs));
      putHardState(buf, 0, hs);
      expect(Buffer.from(payload(buf, 0)).equals(Buffer.from(PbHardState.encode(hs).finish()))).toBe(true);
    }
    const reset = Buffer.alloc(snapshotResetRecordSize(big, 5));
    putSnapshotReset(reset, 0, big, 5);
    expect(WalSnapshotReset.decode(payload(reset, 0))).toEqual({ index: big, term: 5 });
    const start = Buffer.alloc(64);
    const end = putBatchStart(start, 0, 70_000);
    expect(
      Buffer.from(payload(start, 0)).equals(
        Buffer.from(WalBatchStart.encode({ bodyBytes: 70_000 }).finish()),
      ),
    ).toBe(true);
    expect(end).toBe(RECORD_HEADER + 5);
  });
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
