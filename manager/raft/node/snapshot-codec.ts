// What the node persists besides raft's own records, as the protobuf messages of
// proto/shoal/raft/v1/storage.proto:
//   - NodeSnapshot: the snapshot data. The state machine's bytes plus the member address book, which
//     otherwise lives only in conf-change entries that compaction removes. It is stored in the snapshot
//     file and sent to followers as is.
//   - MemberIdentity: who this member is, kept in the WAL's segment headers.
// Both carry a format version; a version this build does not know is refused (FormatVersionError).
import { MemberIdentity, NodeSnapshot } from '../../../proto/gen/shoal/raft/v1/storage.js';
import type { NodeId } from '../core/types.js';
import { FormatVersionError, SnapshotCorruptError, WalCorruptError } from '../wal/errors.js';

export const NODE_SNAPSHOT_FORMAT_VERSION = 1;
export const MEMBER_IDENTITY_FORMAT_VERSION = 1;

export function encodeNodeSnapshot(
  addresses: Map<NodeId, string>,
  sm: Uint8Array,
  formatVersion = NODE_SNAPSHOT_FORMAT_VERSION,
): Uint8Array {
  const head = NodeSnapshot.encode({
    formatVersion,
    addressBook: [...addresses].map(([id, address]) => ({ id, address })),
    stateMachine: Buffer.alloc(0),
  }).finish();
  if (sm.length === 0) return head;
  // state_machine (field 3, length-delimited) is appended by hand so a large state is copied only once.
  const lenBytes: number[] = [];
  for (let n = sm.length; ; n = Math.floor(n / 128)) {
    if (n < 0x80) {
      lenBytes.push(n);
      break;
    }
    lenBytes.push((n % 128) | 0x80);
  }
  const out = Buffer.allocUnsafe(head.length + 1 + lenBytes.length + sm.length);
  out.set(head, 0);
  out[head.length] = 0x1a;
  out.set(lenBytes, head.length + 1);
  out.set(sm, head.length + 1 + lenBytes.length);
  return out;
}

/**
 * Decodes the data of a snapshot (empty means "no snapshot yet"). `source` names where it came from in
 * errors: SnapshotCorruptError if it does not parse, FormatVersionError for an unknown version.
 */
export function decodeNodeSnapshot(
  data: Uint8Array,
  source = 'snapshot data',
): { addresses: Map<NodeId, string>; sm: Uint8Array } {
  if (data.length === 0) return { addresses: new Map(), sm: data };
  let s: NodeSnapshot;
  try {
    s = NodeSnapshot.decode(data);
  } catch (err) {
    throw new SnapshotCorruptError(source, `not a NodeSnapshot message (${(err as Error).message})`);
  }
  if (s.formatVersion !== NODE_SNAPSHOT_FORMAT_VERSION) {
    throw new FormatVersionError(source, 'node snapshot', s.formatVersion, NODE_SNAPSHOT_FORMAT_VERSION);
  }
  const addresses = new Map<NodeId, string>();
  for (const m of s.addressBook) {
    if (m.id <= 0 || m.address === '') {
      throw new SnapshotCorruptError(source, `address book entry ${m.id} "${m.address}" is incomplete`);
    }
    addresses.set(m.id, m.address);
  }
  return { addresses, sm: s.stateMachine };
}

/** Metadata stored in the WAL when the data directory is created: who this member is. */
export interface NodeMeta {
  id: NodeId;
  /** Addresses of the founding members (bootstrap); conf changes carry later ones. */
  peers: [NodeId, string][];
}

export function encodeMeta(m: NodeMeta, formatVersion = MEMBER_IDENTITY_FORMAT_VERSION): Uint8Array {
  return MemberIdentity.encode({
    formatVersion,
    nodeId: m.id,
    bootstrapPeers: m.peers.map(([id, address]) => ({ id, address })),
  }).finish();
}

/** Null for empty bytes (a WAL created without an identity); `source` names where they came from in errors. */
export function decodeMeta(b: Uint8Array, source = 'WAL segment header'): NodeMeta | null {
  if (b.length === 0) return null;
  let m: MemberIdentity;
  try {
    m = MemberIdentity.decode(b);
  } catch (err) {
    throw new WalCorruptError(source, 0, `member identity: ${(err as Error).message}`);
  }
  if (m.formatVersion !== MEMBER_IDENTITY_FORMAT_VERSION) {
    throw new FormatVersionError(source, 'member identity', m.formatVersion, MEMBER_IDENTITY_FORMAT_VERSION);
  }
  if (m.nodeId <= 0) throw new WalCorruptError(source, 0, 'member identity has no node id');
  return { id: m.nodeId, peers: m.bootstrapPeers.map((p) => [p.id, p.address]) };
}
