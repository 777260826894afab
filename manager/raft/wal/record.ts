// On-disk record framing shared by WAL segments:
//   u32 payloadLength | u32 crc32c(length bytes + type + payload) | u8 type | payload
// Integers are little-endian; raft indexes and terms are u64 stored as two u32 halves (values stay
// below 2^53 so they fit a JS number exactly).
import type { Entry, EntryType, HardState } from '../core/types.js';
import { crc32c } from './crc32c.js';

export const RECORD_HEADER = 9;

export const RecordType = {
  /** First record of every segment: magic, format version, segment sequence, caller metadata. */
  SegmentHeader: 1,
  Entry: 2,
  HardState: 3,
  /** The log was replaced by a snapshot at (index, term): everything before this record is void. */
  SnapshotReset: 4,
  /** Opens one append batch: u32 byte length of the records that follow in the same batch. */
  BatchStart: 5,
} as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

export const SEGMENT_MAGIC = 'SHOALWAL';
export const FORMAT_VERSION = 1;

const TWO32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, off);
  buf.writeUInt32LE(Math.floor(v / TWO32), off + 4);
}

export function readU64(buf: Uint8Array, off: number): number {
  const lo = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
  const hi = (buf[off + 4] | (buf[off + 5] << 8) | (buf[off + 6] << 16) | (buf[off + 7] << 24)) >>> 0;
  return hi * TWO32 + lo;
}

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

const ENTRY_TYPE_CODE = { normal: 0, confChange: 1 } as const;
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];

export function entryTypeFromCode(code: number): EntryType | undefined {
  return ENTRY_TYPES[code];
}

export const ENTRY_FIXED = 17;
export const HARDSTATE_PAYLOAD = 24;
export const SNAPSHOT_RESET_PAYLOAD = 16;

export function entryRecordSize(e: WalEntry): number {
  return RECORD_HEADER + ENTRY_FIXED + e.data.length;
}

export function putEntry(buf: Buffer, off: number, e: WalEntry): number {
  buf[off + 8] = RecordType.Entry;
  const p = off + RECORD_HEADER;
  writeU64(buf, p, e.term);
  writeU64(buf, p + 8, e.index);
  buf[p + 16] = ENTRY_TYPE_CODE[e.type];
  buf.set(e.data, p + ENTRY_FIXED);
  const len = ENTRY_FIXED + e.data.length;
  sealRecord(buf, off, len);
  return off + RECORD_HEADER + len;
}

export function putHardState(buf: Buffer, off: number, hs: WalHardState): number {
  buf[off + 8] = RecordType.HardState;
  const p = off + RECORD_HEADER;
  writeU64(buf, p, hs.term);
  writeU64(buf, p + 8, hs.vote);
  writeU64(buf, p + 16, hs.commit);
  sealRecord(buf, off, HARDSTATE_PAYLOAD);
  return off + RECORD_HEADER + HARDSTATE_PAYLOAD;
}

export function putSnapshotReset(buf: Buffer, off: number, index: number, term: number): number {
  buf[off + 8] = RecordType.SnapshotReset;
  const p = off + RECORD_HEADER;
  writeU64(buf, p, index);
  writeU64(buf, p + 8, term);
  sealRecord(buf, off, SNAPSHOT_RESET_PAYLOAD);
  return off + RECORD_HEADER + SNAPSHOT_RESET_PAYLOAD;
}

export const BATCH_START_SIZE = RECORD_HEADER + 4;

export function putBatchStart(buf: Buffer, off: number, batchBytes: number): number {
  buf[off + 8] = RecordType.BatchStart;
  buf.writeUInt32LE(batchBytes, off + RECORD_HEADER);
  sealRecord(buf, off, 4);
  return off + BATCH_START_SIZE;
}

export function segmentHeaderRecord(seq: number, meta: Uint8Array): Buffer {
  const len = 8 + 1 + 8 + meta.length;
  const buf = Buffer.alloc(RECORD_HEADER + len);
  buf[8] = RecordType.SegmentHeader;
  buf.write(SEGMENT_MAGIC, RECORD_HEADER, 'latin1');
  buf[RECORD_HEADER + 8] = FORMAT_VERSION;
  writeU64(buf, RECORD_HEADER + 9, seq);
  buf.set(meta, RECORD_HEADER + 17);
  sealRecord(buf, 0, len);
  return buf;
}
