// Conversion between the core's Message/Entry/Snapshot and their protobuf form (proto/shoal/raft/v1).
import {
  type Entry as WireEntry,
  EntryType as WireEntryType,
  type Message as WireMessage,
  MessageType as WireType,
} from '../../../proto/gen/shoal/raft/v1/raft.js';
import type { Entry, Message, MessageType, SnapshotMetadata } from '../core/types.js';

const TO_WIRE: Record<MessageType, WireType> = {
  app: WireType.MESSAGE_TYPE_APP,
  appResp: WireType.MESSAGE_TYPE_APP_RESP,
  preVote: WireType.MESSAGE_TYPE_PRE_VOTE,
  preVoteResp: WireType.MESSAGE_TYPE_PRE_VOTE_RESP,
  vote: WireType.MESSAGE_TYPE_VOTE,
  voteResp: WireType.MESSAGE_TYPE_VOTE_RESP,
  heartbeat: WireType.MESSAGE_TYPE_HEARTBEAT,
  heartbeatResp: WireType.MESSAGE_TYPE_HEARTBEAT_RESP,
  snap: WireType.MESSAGE_TYPE_SNAP,
  prop: WireType.MESSAGE_TYPE_PROP,
  readIndex: WireType.MESSAGE_TYPE_READ_INDEX,
  readIndexResp: WireType.MESSAGE_TYPE_READ_INDEX_RESP,
  timeoutNow: WireType.MESSAGE_TYPE_TIMEOUT_NOW,
  transferLeader: WireType.MESSAGE_TYPE_TRANSFER_LEADER,
};
const FROM_WIRE = new Map<number, MessageType>(
  Object.entries(TO_WIRE).map(([k, v]) => [v, k as MessageType]),
);

const EMPTY = Buffer.alloc(0);

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function entryToWire(e: Entry): WireEntry {
  return {
    term: e.term,
    index: e.index,
    type: e.type === 'confChange' ? WireEntryType.ENTRY_TYPE_CONF_CHANGE : WireEntryType.ENTRY_TYPE_NORMAL,
    data: asBuffer(e.data),
  };
}

export function entryFromWire(w: WireEntry): Entry {
  let type: Entry['type'];
  if (w.type === WireEntryType.ENTRY_TYPE_NORMAL) type = 'normal';
  else if (w.type === WireEntryType.ENTRY_TYPE_CONF_CHANGE) type = 'confChange';
  else throw new Error(`entry ${w.index}: unknown entry type ${w.type}`);
  return { term: w.term, index: w.index, type, data: w.data };
}

/** The snapshot itself travels separately (chunked); the wire message never carries it. */
export function messageToWire(m: Message): WireMessage {
  const entries = new Array<WireEntry>(m.entries.length);
  for (let i = 0; i < m.entries.length; i++) entries[i] = entryToWire(m.entries[i]);
  return {
    type: TO_WIRE[m.type],
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries,
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context ? asBuffer(m.context) : EMPTY,
    hasContext: m.context !== undefined,
  };
}

export function messageFromWire(w: WireMessage): Message {
  const type = FROM_WIRE.get(w.type);
  if (!type) throw new Error(`message from ${w.from}: unknown message type ${w.type}`);
  const entries = new Array<Entry>(w.entries.length);
  for (let i = 0; i < w.entries.length; i++) entries[i] = entryFromWire(w.entries[i]);
  const m: Message = {
    type,
    to: w.to,
    from: w.from,
    term: w.term,
    logTerm: w.logTerm,
    index: w.index,
    entries,
    commit: w.commit,
    reject: w.reject,
    rejectHint: w.rejectHint,
  };
  if (w.hasContext) m.context = w.context;
  return m;
}

export function metadataToWire(md: SnapshotMetadata) {
  return {
    index: md.index,
    term: md.term,
    confState: { voters: [...md.confState.voters], learners: [...md.confState.learners] },
  };
}

export function metadataFromWire(w: {
  index: number;
  term: number;
  confState?: { voters: number[]; learners: number[] } | undefined;
}): SnapshotMetadata {
  return {
    index: w.index,
    term: w.term,
    confState: { voters: w.confState?.voters ?? [], learners: w.confState?.learners ?? [] },
  };
}
