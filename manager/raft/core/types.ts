// Shared types of the pure Raft core. The durable storage, transport and driver (manager/raft/{wal,node,...})
// build on these; changes here are additive only.

/** A member id. Positive integer; NONE (0) means "nobody" (no leader, no vote). */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque for 'normal'; encodeConfChange(cc) for 'confChange'. Empty for the leader's no-op. */
  data: Uint8Array;
}

/** Must be persisted (fsynced) before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Volatile state; reported in Ready only when it changed. */
export interface SoftState {
  leader: NodeId;
  role: Role;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Membership. Single-server changes only, so there is never a joint configuration. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export type ConfChangeType =
  /** Add a non-voting member that receives the log (no-op if it is already a member). */
  | 'addLearner'
  /** Turn an existing learner into a voter; the caller decides when it has caught up (see Status.progress). */
  | 'promote'
  /** Add a voter directly (or promote a learner). Prefer addLearner + promote for a running cluster. */
  | 'addVoter'
  /** Remove a voter or learner. A leader that removes itself steps down once the change is applied. */
  | 'remove';

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core, e.g. the member's address; handed back with the committed entry. */
  context: Uint8Array;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The state machine's serialized state at metadata.index. */
  data: Uint8Array;
}

export type MessageType =
  | 'app' // leader → follower: entries after (index, logTerm), leader commit
  | 'appResp' // follower → leader: index = last matching index, or reject with rejectHint/logTerm
  | 'preVote' // (pre)candidate → all: index/logTerm = candidate's last entry; term = the term it would use
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'heartbeat' // leader → follower: commit, context (ReadIndex round)
  | 'heartbeatResp' // context echoed back
  | 'snap' // leader → follower: whole snapshot (the transport chunks it)
  | 'prop' // follower → leader: forwarded proposal entries
  | 'readIndex' // follower → leader: context identifies the request
  | 'readIndexResp' // leader → follower: index = read index, context echoed
  | 'timeoutNow' // leader → transferee: campaign now, skipping pre-vote and lease checks
  | 'transferLeader'; // follower → leader: forwarded transferLeadership; from = transferee

export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** On a rejected appResp: the follower's suggested probe index (with logTerm = its term there). */
  rejectHint: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
}

/** A linearizable read point: once applied >= index, reads see every write acknowledged before the request. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

/**
 * One batch of work for the driver. Contract:
 *  1. start persisting snapshot (if any), entries (replacing any persisted entries at or after
 *     entries[0].index) and hardState, fsynced when mustSync;
 *  2. `messages` may be sent at once, before the write is durable, and committedEntries[0..applyBeforeAppend)
 *     may be applied at once (they are durable already);
 *  3. once the write is durable: send `messagesAfterAppend`, apply snapshot (if any) then the rest of
 *     committedEntries (conf changes take effect in the core on advance(); the driver only updates its
 *     address book from ConfChange.context), answer readStates once applied;
 *  4. call advance().
 * The core alone decides which messages may leave early (etcd's msgs / msgsAfterAppend): acknowledgements and
 * votes always wait, and nothing leaves early while this node's term or vote is not yet durable.
 * step/tick/propose may be called between ready() and advance(); RawNode.takeMessages() then hands out
 * what may leave before the outstanding write is durable.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  /** How many of committedEntries (a prefix) are durable here already and may be applied during the write. */
  applyBeforeAppend: number;
  /** May leave before this Ready's write is durable (they promise nothing about this node's disk). */
  messages: Message[];
  /** Must wait until this Ready's write is durable: acknowledgements, votes, and anything at a new term. */
  messagesAfterAppend: Message[];
  readStates: ReadState[];
  /** True when term/vote, entries or a snapshot changed: the write must be fsynced before sending. */
  mustSync: boolean;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface PeerProgress {
  match: number;
  next: number;
  state: ProgressState;
  /** Heard from since the current check-quorum round began (false for everyone right after it began). */
  recentActive: boolean;
  /**
   * Heard from in this round or the one before: what "reachable" means to a reader. recentActive alone reads
   * false for every follower in the first heartbeat of each round, so a reader sampling it at that moment
   * would see a live member as gone.
   */
  reachable: boolean;
  /** Messages in flight (replicate state). */
  inflight: number;
  isLearner: boolean;
  pendingSnapshot: number;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  role: Role;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  config: ConfState;
  /** Only on the leader: every member including itself. */
  progress: Record<number, PeerProgress>;
  leadTransferee: NodeId;
}

/** Where the core reads the persisted log. MemoryStorage is the in-memory implementation. */
export interface LogStorage {
  /** The persisted hard state and the configuration at the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most maxSize bytes but at least one entry (maxSize undefined: no limit; the core
   * never passes 0). Throws CompactedError/UnavailableError.
   */
  entries(lo: number, hi: number, maxSize?: number): Entry[];
  /** Term of entry i, for firstIndex()-1 <= i <= lastIndex(). Throws CompactedError/UnavailableError. */
  term(i: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot. Throws SnapshotTemporarilyUnavailableError while one is being made. */
  snapshot(): Snapshot;
}

export interface Config {
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning; randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  heartbeatTick: number;
  storage: LogStorage;
  /** Last index applied to the state machine (restart); defaults to the storage snapshot's index. */
  applied?: number;
  /** Ask for votes hypothetically first so a rejoining partitioned node cannot bump the term. */
  preVote: boolean;
  /** Leader steps down after an election timeout without hearing from a quorum; followers with a live
   * leader ignore vote requests (leader lease). */
  checkQuorum: boolean;
  /** Max bytes of entries per append message (at least one entry is always sent). */
  maxSizePerMsg: number;
  /** Max append messages in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Leader drops proposals when the uncommitted tail exceeds this many bytes (0 = unlimited). */
  maxUncommittedEntriesSize: number;
  /** Max bytes of committed entries per Ready (0 = unlimited). */
  maxCommittedSizePerReady?: number;
  /** Seeded PRNG in [0, 1): the only source of randomness. */
  random: () => number;
  /** Optional diagnostics. */
  logger?: (msg: string) => void;
}

export class RaftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Requested index is before the storage's first index (compacted into a snapshot). */
export class CompactedError extends RaftError {}
/** Requested index is after the storage's last index. */
export class UnavailableError extends RaftError {}
/** Storage is producing a snapshot; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {}
/** A proposal was not appended (no leader, leadership transfer in progress, too large, pending conf change). */
export class ProposalDroppedError extends RaftError {}
/** A snapshot older than the storage's (or not newer than the log) was offered. */
export class SnapshotOutOfDateError extends RaftError {}

/** Where a locally appended proposal landed: committed with this term at this index means success. */
export interface ProposalTicket {
  index: number;
  term: number;
}
