import type { ConfChange, ConfChangeType, ConfState, NodeId } from './types.js';
import { RaftError } from './types.js';

// Wire form of a conf-change entry: [version u8][type u8][nodeId f64 LE][context bytes...].
const VERSION = 1;
const TYPES: ConfChangeType[] = ['addLearner', 'promote', 'addVoter', 'remove'];
const HEADER = 10;

/** The data of a conf change is malformed or the change does not fit the configuration. */
export class InvalidConfChangeError extends RaftError {}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const type = TYPES.indexOf(cc.type);
  if (type < 0) throw new InvalidConfChangeError(`confChange.type: unknown type ${String(cc.type)}`);
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new InvalidConfChangeError(`confChange.nodeId: must be a positive integer, got ${cc.nodeId}`);
  }
  const out = new Uint8Array(HEADER + cc.context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setUint8(1, type);
  view.setFloat64(2, cc.nodeId, true);
  out.set(cc.context, HEADER);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER)
    throw new InvalidConfChangeError(`confChange: ${data.length} bytes, need ${HEADER}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint8(0);
  if (version !== VERSION) throw new InvalidConfChangeError(`confChange.version: unsupported ${version}`);
  const type = TYPES[view.getUint8(1)];
  if (type === undefined)
    throw new InvalidConfChangeError(`confChange.type: unknown code ${view.getUint8(1)}`);
  const nodeId = view.getFloat64(2, true);
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0) {
    throw new InvalidConfChangeError(`confChange.nodeId: must be a positive integer, got ${nodeId}`);
  }
  return { type, nodeId, context: data.slice(HEADER) };
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
