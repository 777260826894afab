// The node stores more than the state machine in a snapshot: the member address book, which otherwise
// lives only in conf-change entries that compaction removes.
//   u32 addressBookLength | address book (JSON [[id, address], ...]) | state machine bytes
import type { NodeId } from '../core/types.js';

export function encodeNodeSnapshot(addresses: Map<NodeId, string>, sm: Uint8Array): Uint8Array {
  const book = Buffer.from(JSON.stringify([...addresses]));
  const out = Buffer.allocUnsafe(4 + book.length + sm.length);
  out.writeUInt32LE(book.length, 0);
  book.copy(out, 4);
  out.set(sm, 4 + book.length);
  return out;
}

export function decodeNodeSnapshot(data: Uint8Array): { addresses: Map<NodeId, string>; sm: Uint8Array } {
  if (data.length === 0) return { addresses: new Map(), sm: data };
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 4) throw new Error('snapshot: too short for the address book header');
  const len = buf.readUInt32LE(0);
  if (4 + len > buf.length) throw new Error('snapshot: address book runs past the end');
  const pairs = JSON.parse(buf.toString('utf8', 4, 4 + len)) as [NodeId, string][];
  return { addresses: new Map(pairs), sm: buf.subarray(4 + len) };
}

/** Metadata stored in the WAL when the data directory is created: who this member is. */
export interface NodeMeta {
  id: NodeId;
  /** Addresses of the founding members (bootstrap); conf changes carry later ones. */
  peers: [NodeId, string][];
}

export function encodeMeta(m: NodeMeta): Uint8Array {
  return Buffer.from(JSON.stringify(m));
}

export function decodeMeta(b: Uint8Array): NodeMeta | null {
  if (b.length === 0) return null;
  return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as NodeMeta;
}
