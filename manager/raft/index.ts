// Public face of the raft library for the state store and shoald.
export type { ConfChange, NodeId, PeerProgress, Role, Status } from './core/types.js';
export { type Clock, systemClock } from './node/clock.js';
export {
  DiskFullError,
  IdentityMismatchError,
  InvalidArgumentError,
  NodeStoppedError,
  NotLeaderError,
  ProposalDroppedError,
  ProposalOutcomeUnknownError,
  RaftTimeoutError,
  StorageError,
  StoragePermissionError,
  WalCorruptError,
} from './node/errors.js';
export {
  type Member,
  type NodeStatus,
  type ProposeResult,
  RaftNode,
  type RaftNodeOptions,
} from './node/node.js';
export type { StateMachine } from './node/state-machine.js';
export { FormatVersionError, SnapshotCorruptError } from './wal/errors.js';
