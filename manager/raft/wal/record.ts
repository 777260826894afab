// On-disk record framing shared by WAL segments:
//   u32 payloadLength | u32 crc32c(length bytes + type + payload) | u8 type | payload
// Integers in the framing are little-endian. Payloads are the protobuf messages of
// proto/shoal/raft/v1/storage.proto (the record type names the message). The hot ones (entries, hard
// state, batch start, snapshot reset) are written here straight into the batch buffer in protobuf wire
// format, byte for byte what the generated encoders produce (record.test.ts checks both ways), so an
// append allocates nothing per entry. Replay decodes with the generated code.
import {
  type Entry as PbEntry,
  Entry as PbEntryCodec,
  EntryType as PbEntryType,
} from '../../../proto/gen/shoal/raft/v1/raft.js';
import {
  HardState as PbHardState,
  WalBatchStart,
  WalSegmentHeader,
  WalSnapshotReset,
} from '../../../proto/gen/shoal/raft/v1/storage.js';
import type { Entry, EntryType, HardState } from '../core/types.js';
import { crc32c } from './crc32c.js';

export const RECORD_HEADER = 9;

/** The framing's type byte (WalRecordType in storage.proto). */
export const RecordType = {
  /** First record of every segment: magic, then WalSegmentHeader (format version, sequence, member). */
  SegmentHeader: 1,
  /** shoal.raft.v1.Entry */
  Entry: 2,
  /** HardState */
  HardState: 3,
  /** WalSnapshotReset: the log was replaced by a snapshot at (index, term); earlier records are void. */
  SnapshotReset: 4,
  /** WalBatchStart: opens one append batch and counts the bytes of the records that follow in it. */
  BatchStart: 5,
} as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

export const SEGMENT_MAGIC = 'SHOALWAL';
/** The WAL format this build writes and the only one it reads (WalSegmentHeader.format_version). */
export const FORMAT_VERSION = 1;

export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

/** Fills in length and checksum for a record whose type and payload are already at buf[off+8 ...]. */
export function sealRecord(buf: Buffer, off: number, payloadLength: number): void {
  buf.writeUInt32LE(payloadLength, off);
  let c = crc32c(buf, 0, off, off + 4);
  c = crc32c(buf, c, off + 8, off + RECORD_HEADER + payloadLength);
  buf.writeUInt32LE(c, off + 4);
}

export function recordChecksumOk(buf: Uint8Array, off: number, payloadLength: number): boolean {
  let c = crc32c(buf, 0, off, off + 4);
  c = crc32c(buf, c, off + 8, off + RECORD_HEADER + payloadLength);
  return c === readU32(buf, off + 4);
}

export type WalEntry = Entry;
export type WalHardState = HardState;

// ---- protobuf wire format, for the messages written on the append path ----
// Field keys: (field number << 3) | wire type (0 varint, 2 length-delimited, 5 fixed32).

/** Bytes of v (a non-negative integer below 2^53) as a varint. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(buf: Buffer, off: number, v: number): number {
  while (v >= 0x80) {
    buf[off++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off++] = v;
  return off;
}

/** A proto3 uint64 field: omitted when zero, like the generated encoders. */
function u64FieldSize(v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

function putU64Field(buf: Buffer, off: number, key: number, v: number): number {
  if (v === 0) return off;
  buf[off] = key;
  return putVarint(buf, off + 1, v);
}

const ENTRY_TYPE_CODE: Record<EntryType, PbEntryType> = {
  normal: PbEntryType.ENTRY_TYPE_NORMAL,
  confChange: PbEntryType.ENTRY_TYPE_CONF_CHANGE,
};

function entryPayloadSize(e: WalEntry): number {
  const n = e.data.length;
  return u64FieldSize(e.term) + u64FieldSize(e.index) + 2 + (n === 0 ? 0 : 1 + varintSize(n) + n);
}

export function entryRecordSize(e: WalEntry): number {
  return RECORD_HEADER + entryPayloadSize(e);
}

export function putEntry(buf: Buffer, off: number, e: WalEntry): number {
  buf[off + 8] = RecordType.Entry;
  let p = off + RECORD_HEADER;
  p = putU64Field(buf, p, 0x08, e.term);
  p = putU64Field(buf, p, 0x10, e.index);
  buf[p++] = 0x18;
  buf[p++] = ENTRY_TYPE_CODE[e.type]; // 1 or 2: a one-byte varint
  if (e.data.length > 0) {
    buf[p] = 0x22;
    p = putVarint(buf, p + 1, e.data.length);
    buf.set(e.data, p);
    p += e.data.length;
  }
  sealRecord(buf, off, p - off - RECORD_HEADER);
  return p;
}

export function hardStateRecordSize(hs: WalHardState): number {
  return RECORD_HEADER + u64FieldSize(hs.term) + u64FieldSize(hs.vote) + u64FieldSize(hs.commit);
}

export function putHardState(buf: Buffer, off: number, hs: WalHardState): number {
  buf[off + 8] = RecordType.HardState;
  let p = off + RECORD_HEADER;
  p = putU64Field(buf, p, 0x08, hs.term);
  p = putU64Field(buf, p, 0x10, hs.vote);
  p = putU64Field(buf, p, 0x18, hs.commit);
  sealRecord(buf, off, p - off - RECORD_HEADER);
  return p;
}

export function snapshotResetRecordSize(index: number, term: number): number {
  return RECORD_HEADER + u64FieldSize(index) + u64FieldSize(term);
}

export function putSnapshotReset(buf: Buffer, off: number, index: number, term: number): number {
  buf[off + 8] = RecordType.SnapshotReset;
  let p = off + RECORD_HEADER;
  p = putU64Field(buf, p, 0x08, index);
  p = putU64Field(buf, p, 0x10, term);
  sealRecord(buf, off, p - off - RECORD_HEADER);
  return p;
}

/** WalBatchStart's body_bytes is fixed32, so the record always has this size (a batch is never empty). */
export const BATCH_START_PAYLOAD = 5;
export const BATCH_START_SIZE = RECORD_HEADER + BATCH_START_PAYLOAD;

export function putBatchStart(buf: Buffer, off: number, batchBytes: number): number {
  buf[off + 8] = RecordType.BatchStart;
  buf[off + RECORD_HEADER] = 0x0d;
  buf.writeUInt32LE(batchBytes, off + RECORD_HEADER + 1);
  sealRecord(buf, off, BATCH_START_PAYLOAD);
  return off + BATCH_START_SIZE;
}

export function segmentHeaderRecord(seq: number, member: Uint8Array, formatVersion = FORMAT_VERSION): Buffer {
  const pb = WalSegmentHeader.encode({ formatVersion, sequence: seq, member: Buffer.from(member) }).finish();
  const len = SEGMENT_MAGIC.length + pb.length;
  const buf = Buffer.alloc(RECORD_HEADER + len);
  buf[8] = RecordType.SegmentHeader;
  buf.write(SEGMENT_MAGIC, RECORD_HEADER, 'latin1');
  buf.set(pb, RECORD_HEADER + SEGMENT_MAGIC.length);
  sealRecord(buf, 0, len);
  return buf;
}

// ---- decoding (replay) ----
// Each throws a plain Error saying what is wrong; the WAL turns it into WalCorruptError with file and offset.

export function decodeSegmentHeader(payload: Uint8Array): WalSegmentHeader {
  const magic = Buffer.from(
    payload.buffer,
    payload.byteOffset,
    Math.min(payload.length, SEGMENT_MAGIC.length),
  );
  if (magic.toString('latin1') !== SEGMENT_MAGIC) {
    throw new Error('missing segment header');
  }
  return WalSegmentHeader.decode(payload.subarray(SEGMENT_MAGIC.length));
}

export function decodeEntry(payload: Uint8Array): WalEntry {
  const e: PbEntry = PbEntryCodec.decode(payload);
  let type: EntryType;
  if (e.type === PbEntryType.ENTRY_TYPE_NORMAL) type = 'normal';
  else if (e.type === PbEntryType.ENTRY_TYPE_CONF_CHANGE) type = 'confChange';
  else throw new Error(`unknown entry type ${e.type}`);
  if (e.index === 0) throw new Error('entry without an index');
  return { term: e.term, index: e.index, type, data: e.data };
}

export function decodeHardState(payload: Uint8Array): WalHardState {
  const hs = PbHardState.decode(payload);
  return { term: hs.term, vote: hs.vote, commit: hs.commit };
}

export function decodeSnapshotReset(payload: Uint8Array): { index: number; term: number } {
  return WalSnapshotReset.decode(payload);
}

export function decodeBatchStart(payload: Uint8Array): number {
  if (payload.length !== BATCH_START_PAYLOAD || payload[0] !== 0x0d)
    throw new Error('malformed batch header');
  return WalBatchStart.decode(payload).bodyBytes;
}
