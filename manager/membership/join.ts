// The leader's side of a manager joining the raft group (swarmkit's RaftMembership.Join). The node already
// holds a manager certificate (the CA issued it for the manager token and registered the Node); here it
// becomes a raft learner, and the membership reconciler promotes it to a voter once it has caught up.
import { isShoalError, ShoalError } from '../../common/errors.js';
import type { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole, NodeState, Reachability } from '../../proto/gen/shoal/swarm/v1/types.js';
import { clone, type ReadTx, type Store, type WriteTx } from '../store/index.js';

export interface RaftMember {
  id: number;
  address: string;
  voter: boolean;
}

/** What joining needs of the raft node (RaftNode implements it). */
export interface RaftGroup {
  readonly id: number;
  leadership(): { isLeader: boolean; leaderId: number };
  members(): RaftMember[];
  addLearner(id: number, address: string): Promise<void>;
  removeMember(id: number): Promise<void>;
  /** Members heard from within the last election timeout (the leader's view; itself included). */
  activeIds(): number[];
}

export class NotLeaderHere extends ShoalError {
  constructor(readonly leaderAddr: string | undefined) {
    super(
      'unavailable',
      `this manager is not the leader${leaderAddr ? ` (the leader is at ${leaderAddr})` : ''}`,
    );
  }
}

export async function joinRaft(
  store: Store,
  raft: RaftGroup,
  req: { nodeId: string; raftId: number; addr: string },
): Promise<{ leaderId: number; members: RaftMember[] }> {
  if (!Number.isSafeInteger(req.raftId) || req.raftId <= 0)
    throw new ShoalError('invalid_argument', 'raft_id: must be a positive integer', { field: 'raft_id' });
  if (!/^[^\s]+:\d{1,5}$/.test(req.addr))
    throw new ShoalError('invalid_argument', `addr: "${req.addr}" is not host:port`, { field: 'addr' });
  requireLeader(raft);
  if (store.view((tx) => removedRaftIds(tx).has(req.raftId)))
    throw new ShoalError(
      'permission_denied',
      `raft member ${req.raftId} was removed from the swarm and cannot join again with this identity: leave the swarm on that node (swarm leave --force) and join it again`,
    );
  const node = store.view((tx) => tx.get('node', req.nodeId));
  if (!node || node.spec?.desiredRole !== NodeRole.NODE_ROLE_MANAGER)
    throw new ShoalError('permission_denied', `node ${req.nodeId} is not a manager of this swarm`);
  const members = raft.members();
  const same = members.find((m) => m.id === req.raftId);
  if (same && same.address !== req.addr)
    throw new ShoalError('conflict', `raft member ${req.raftId} already exists at ${same.address}`);
  const old = node.managerStatus?.raftId;
  if (old && old !== req.raftId && members.some((m) => m.id === old))
    throw new ShoalError(
      'conflict',
      `node ${req.nodeId} is already raft member ${old}: remove it from the swarm before it joins again`,
    );
  if (members.some((m) => m.id !== req.raftId && m.address === req.addr))
    throw new ShoalError('conflict', `another raft member already uses the address ${req.addr}`);
  if (!same) await raft.addLearner(req.raftId, req.addr);
  // The dispatcher writes the same node (heartbeats, status): a lost race is retried, never left half done.
  await retryConflicts(() =>
    store.update((tx) => {
      const n = tx.get('node', req.nodeId);
      if (!n) throw new ShoalError('not_found', `node ${req.nodeId} was removed while it joined`);
      const next = clone('node', n);
      next.managerStatus = {
        raftId: req.raftId,
        addr: req.addr,
        leader: false,
        // A learner until the reconciler promotes it: it does not count for quorum yet.
        reachability: Reachability.REACHABILITY_UNKNOWN,
      };
      tx.update('node', next);
    }),
  );
  return { leaderId: raft.id, members: raft.members() };
}

function requireLeader(raft: RaftGroup): void {
  const lead = raft.leadership();
  if (lead.isLeader) return;
  throw new NotLeaderHere(raft.members().find((m) => m.id === lead.leaderId)?.address);
}

/** Docker's wording for a manager leaving (or being removed) when the rest would lack a quorum. */
export function quorumLossMessage(remaining: number, total: number, quorumLost = true): string {
  return `Removing this node leaves ${remaining} managers out of ${total}. ${quorumLost ? 'Without a Raft quorum your swarm will be inaccessible. ' : ''}The only way to restore a swarm that has lost consensus is to reinitialize it with \`--force-new-cluster\`. Use \`--force\` to suppress this message.`;
}

/**
 * The leader's side of a manager leaving: its raft member is removed (refused when the voters left, of those
 * reachable, could not form a quorum, unless `force`) and its node becomes a worker that is gone, so the
 * managers' list and quorum no longer count it; `node rm` then removes it.
 */
export async function leaveRaft(
  store: Store,
  raft: RaftGroup,
  req: { nodeId: string; force: boolean },
): Promise<void> {
  requireLeader(raft);
  const node = store.view((tx) => tx.get('node', req.nodeId));
  if (!node) throw new ShoalError('not_found', `node ${req.nodeId} not found`);
  const raftId = node.managerStatus?.raftId ?? 0;
  const voters = raft.members().filter((m) => m.voter);
  if (raftId && voters.some((m) => m.id === raftId)) {
    const remaining = voters.filter((m) => m.id !== raftId);
    const active = new Set(raft.activeIds());
    const reachable = remaining.filter((m) => active.has(m.id)).length;
    if (remaining.length === 0)
      throw new ShoalError(
        'failed_precondition',
        'the last manager cannot leave the raft group: leave the swarm instead',
      );
    if (!req.force && reachable < Math.floor(remaining.length / 2) + 1)
      throw new ShoalError('failed_precondition', quorumLossMessage(reachable, voters.length));
  }
  if (raftId && raft.members().some((m) => m.id === raftId)) await raft.removeMember(raftId);
  await retryConflicts(() =>
    store.update((tx) => {
      const n = tx.get('node', req.nodeId);
      if (n) forgetManager(tx, n, 'left the swarm');
    }),
  );
}

/** Runs a store write again when it lost a race with another writer of the same object. */
export async function retryConflicts<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isShoalError(err, 'conflict') || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** Raft ids removed from the group, as the store remembers them (never to be used again). */
export function removedRaftIds(tx: ReadTx): Set<number> {
  return new Set(tx.list('cluster')[0]?.removedRaftIds ?? []);
}

/** Adds raft ids to the store's list of removed members. */
export function rememberRemoved(tx: WriteTx, ids: readonly number[]): void {
  const c = tx.list('cluster')[0];
  if (!c) return;
  const all = new Set(c.removedRaftIds);
  const before = all.size;
  for (const id of ids) if (id > 0) all.add(id);
  if (all.size === before) return;
  const next = clone('cluster', c);
  next.removedRaftIds = [...all].sort((a, b) => a - b);
  tx.update('cluster', next);
}

/**
 * A manager's node after its raft member is gone: a worker (desired and actual role), no ManagerStatus, its
 * raft id remembered as removed; `down` also marks it down with that message (it left the swarm).
 */
export function forgetManager(tx: WriteTx, n: Node, down?: string): void {
  const next = clone('node', n);
  const raftId = n.managerStatus?.raftId ?? 0;
  next.managerStatus = undefined;
  next.role = NodeRole.NODE_ROLE_WORKER;
  if (next.spec) next.spec.desiredRole = NodeRole.NODE_ROLE_WORKER;
  if (down !== undefined)
    next.status = {
      ...(next.status ?? { addr: '', message: '' }),
      state: NodeState.NODE_STATE_DOWN,
      message: down,
    };
  tx.update('node', next);
  if (raftId) rememberRemoved(tx, [raftId]);
}
