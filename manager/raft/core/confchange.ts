import {
  ConfChange as PbConfChangeCodec,
  ConfChangeType as PbConfChangeType,
} from '../../../proto/gen/shoal/raft/v1/storage.js';
import type { ConfChange, ConfChangeType, ConfState, NodeId } from './types.js';
import { RaftError } from './types.js';

// Wire form of a conf-change entry: shoal.raft.v1.ConfChange (proto/shoal/raft/v1/storage.proto). It is
// persisted in the WAL and replayed by every later version, so it carries a format version and a reader
// refuses one it does not know rather than applying a change it may misunderstand.
export const CONF_CHANGE_FORMAT_VERSION = 1;

const TO_PB: Record<ConfChangeType, PbConfChangeType> = {
  addLearner: PbConfChangeType.CONF_CHANGE_TYPE_ADD_LEARNER,
  promote: PbConfChangeType.CONF_CHANGE_TYPE_PROMOTE,
  addVoter: PbConfChangeType.CONF_CHANGE_TYPE_ADD_VOTER,
  remove: PbConfChangeType.CONF_CHANGE_TYPE_REMOVE,
};
const FROM_PB = new Map<number, ConfChangeType>(
  Object.entries(TO_PB).map(([k, v]) => [v, k as ConfChangeType]),
);

/** The data of a conf change is malformed or the change does not fit the configuration. */
export class InvalidConfChangeError extends RaftError {}

export function encodeConfChange(cc: ConfChange, formatVersion = CONF_CHANGE_FORMAT_VERSION): Uint8Array {
  const type = Object.hasOwn(TO_PB, cc.type) ? TO_PB[cc.type] : undefined;
  if (type === undefined)
    throw new InvalidConfChangeError(`confChange.type: unknown type ${String(cc.type)}`);
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new InvalidConfChangeError(`confChange.nodeId: must be a positive integer, got ${cc.nodeId}`);
  }
  return PbConfChangeCodec.encode({
    formatVersion,
    type,
    nodeId: cc.nodeId,
    context: Buffer.from(cc.context.buffer, cc.context.byteOffset, cc.context.byteLength),
  }).finish();
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let pb: PbConfChangeCodec;
  try {
    pb = PbConfChangeCodec.decode(data);
  } catch (err) {
    throw new InvalidConfChangeError(`confChange: not a ConfChange message (${(err as Error).message})`);
  }
  if (pb.formatVersion !== CONF_CHANGE_FORMAT_VERSION) {
    throw new InvalidConfChangeError(
      pb.formatVersion === 0
        ? 'confChange.formatVersion: missing'
        : `confChange.formatVersion: ${pb.formatVersion} is not supported (this build reads ${CONF_CHANGE_FORMAT_VERSION}; written by a newer shoal?)`,
    );
  }
  const type = FROM_PB.get(pb.type);
  if (type === undefined) throw new InvalidConfChangeError(`confChange.type: unknown code ${pb.type}`);
  if (pb.nodeId <= 0) {
    throw new InvalidConfChangeError(`confChange.nodeId: must be a positive integer, got ${pb.nodeId}`);
  }
  const ctx = pb.context;
  return { type, nodeId: pb.nodeId, context: new Uint8Array(ctx.buffer, ctx.byteOffset, ctx.byteLength) };
}

/**
 * Why a change cannot be applied to cs, or undefined if it can. The leader checks this before proposing so
 * callers get a clear error; application stays tolerant (replays after restart re-apply old changes).
 */
export function validateConfChange(cs: ConfState, cc: ConfChange): string | undefined {
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  switch (cc.type) {
    case 'addLearner':
      return isVoter || isLearner ? `node ${cc.nodeId} is already a member` : undefined;
    case 'addVoter':
      return isVoter ? `node ${cc.nodeId} is already a voter` : undefined;
    case 'promote':
      return isLearner ? undefined : `node ${cc.nodeId} is not a learner`;
    case 'remove':
      if (!isVoter && !isLearner) return `node ${cc.nodeId} is not a member`;
      if (isVoter && cs.voters.length === 1) return `node ${cc.nodeId} is the last voter`;
      return undefined;
  }
}

/** The configuration after cc. Idempotent, so replaying committed changes after a restart is harmless. */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const id: NodeId = cc.nodeId;
  const voters = cs.voters.filter((v) => v !== id);
  const learners = cs.learners.filter((l) => l !== id);
  const wasVoter = cs.voters.includes(id);
  const wasLearner = cs.learners.includes(id);
  switch (cc.type) {
    case 'addLearner':
      // Never silently demote a voter.
      if (wasVoter) return cs;
      learners.push(id);
      break;
    case 'addVoter':
      voters.push(id);
      break;
    case 'promote':
      if (!wasLearner) return cs;
      voters.push(id);
      break;
    case 'remove':
      break;
  }
  return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
}
