// Errors of the raft node API. Callers branch on the class; messages are for humans.
import type { NodeId } from '../core/types.js';

export { ProposalDroppedError } from '../core/types.js';
export { DiskFullError, StorageError, StoragePermissionError, WalCorruptError } from '../wal/errors.js';

/** This member is not the leader; retry at `leaderAddress` (unknown while an election runs). */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  constructor(
    readonly leaderId: NodeId,
    readonly leaderAddress: string | undefined,
  ) {
    super(
      leaderId
        ? `not the leader; the leader is ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`
        : 'not the leader; no leader is known (election in progress)',
    );
  }
}

/** The proposal may or may not have committed: its entry was replaced by a snapshot before it applied here. */
export class ProposalOutcomeUnknownError extends Error {
  override name = 'ProposalOutcomeUnknownError';
}

/** The node was stopped (or removed from the cluster) before the operation finished. */
export class NodeStoppedError extends Error {
  override name = 'NodeStoppedError';
}

/** A read index, leadership transfer or catch-up wait did not finish in time. */
export class RaftTimeoutError extends Error {
  override name = 'RaftTimeoutError';
}

/** A caller passed an invalid argument; `field` names it. */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The data directory was created for a different member id. */
export class IdentityMismatchError extends Error {
  override name = 'IdentityMismatchError';
}
