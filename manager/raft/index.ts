// Public face of the raft library for the state store and shoald.
export type { ConfChange, NodeId, PeerProgress, Role, Status } from './core/types.js';
export { type Clock, immediateScheduler, type Scheduler, systemClock } from './node/clock.js';
export {
  type Application,
  type DriverHooks,
  type DriverOptions,
  type DriverStorage,
  type DriverTransport,
  type LogWrite,
  RaftDriver,
} from './node/driver.js';
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
export { type ExportedState, seedNewCluster } from './node/new-cluster.js';
export {
  type Member,
  type NodeStatus,
  type ProposeResult,
  RaftNode,
  type RaftNodeOptions,
} from './node/node.js';
export type { Applied, LeaderComponent, LeadershipEvent, ReplicatedLog, StateMachine } from './replicated.js';
export { runWhileLeader } from './replicated.js';
export { FormatVersionError, SnapshotCorruptError } from './wal/errors.js';
