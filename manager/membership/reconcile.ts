// The leader's upkeep of the managers (pure core + a leader-only runner): learners that have caught up become
// voters, and every manager Node's ManagerStatus says who leads and who is reachable, as the leader's raft
// progress sees it. Written to the store only when something changed, so followers, `node ls` and the
// dispatcher's manager list read it without asking raft.
import type { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole, Reachability } from '../../proto/gen/shoal/swarm/v1/types.js';
import { clone, type Store } from '../store/index.js';
import { forgetManager, retryConflicts } from './join.js';

/** What the leader's raft status says of one member. */
export interface MemberView {
  id: number;
  voter: boolean;
  /** Highest log index known to be replicated on it. */
  match: number;
  /** Heard from within the last election timeout (always true for the leader itself). */
  active: boolean;
}

export interface GroupView {
  leaderId: number;
  commit: number;
  members: MemberView[];
}

/**
 * What a node's role change asks of the leader (swarmkit's role manager): a promoted node gets the manager
 * role at once (its next certificate says so, and it then joins raft as a learner); a demoted one leaves raft
 * first, and only then becomes a worker. A leader being demoted hands leadership over first; the new leader
 * carries on.
 */
export type RoleStep =
  | { kind: 'make-manager'; nodeId: string }
  | { kind: 'transfer'; to: number; nodeId: string }
  | { kind: 'remove-member'; nodeId: string; raftId: number }
  | { kind: 'make-worker'; nodeId: string }
  /** Nothing can be done now (the removal would lose quorum, or no voter could take over leadership). */
  | { kind: 'wait'; nodeId: string; why: string };

export interface MembershipPlan {
  /** Learners caught up with the commit index: promote them. */
  promote: number[];
  /** Nodes whose ManagerStatus should change: node id → new leader flag and reachability. */
  nodes: { id: string; leader: boolean; reachability: Reachability }[];
  /** Role changes to carry out, in order. */
  roles: RoleStep[];
}

const majority = (n: number) => Math.floor(n / 2) + 1;

export function planRoles(group: GroupView, nodes: readonly Node[]): RoleStep[] {
  const steps: RoleStep[] = [];
  for (const n of nodes) {
    const desired = n.spec?.desiredRole;
    if (desired === NodeRole.NODE_ROLE_MANAGER && n.role !== NodeRole.NODE_ROLE_MANAGER) {
      steps.push({ kind: 'make-manager', nodeId: n.id });
      continue;
    }
    if (desired !== NodeRole.NODE_ROLE_WORKER) continue;
    if (n.role !== NodeRole.NODE_ROLE_MANAGER && !n.managerStatus) continue;
    const raftId = n.managerStatus?.raftId ?? 0;
    const member = raftId ? group.members.find((m) => m.id === raftId) : undefined;
    if (!member) {
      steps.push({ kind: 'make-worker', nodeId: n.id });
      continue;
    }
    if (member.id === group.leaderId) {
      const heir = group.members
        .filter((m) => m.voter && m.active && m.id !== member.id)
        .sort((a, b) => b.match - a.match)[0];
      if (heir) steps.push({ kind: 'transfer', to: heir.id, nodeId: n.id });
      else steps.push({ kind: 'wait', nodeId: n.id, why: 'no reachable voter to hand leadership over to' });
      continue;
    }
    if (member.voter) {
      const remaining = group.members.filter((m) => m.voter && m.id !== member.id);
      const reachable = remaining.filter((m) => m.active || m.id === group.leaderId).length;
      if (reachable < majority(remaining.length)) {
        steps.push({
          kind: 'wait',
          nodeId: n.id,
          why: `removing it would leave ${reachable} reachable managers of ${remaining.length}: no quorum`,
        });
        continue;
      }
    }
    steps.push({ kind: 'remove-member', nodeId: n.id, raftId: member.id });
  }
  return steps;
}

export function planMembership(group: GroupView, nodes: readonly Node[]): MembershipPlan {
  // A learner whose node is being demoted is not promoted on its way out.
  const leaving = new Set(
    nodes
      .filter((n) => n.spec?.desiredRole === NodeRole.NODE_ROLE_WORKER && n.managerStatus?.raftId)
      .map((n) => n.managerStatus?.raftId),
  );
  const promote = group.members
    .filter((m) => !m.voter && m.match >= group.commit && !leaving.has(m.id))
    .map((m) => m.id);
  const byId = new Map(group.members.map((m) => [m.id, m]));
  const changes: MembershipPlan['nodes'] = [];
  for (const n of nodes) {
    const ms = n.managerStatus;
    if (!ms?.raftId) continue;
    const m = byId.get(ms.raftId);
    const leader = ms.raftId === group.leaderId;
    // Not a member (removed, or dropped by --force-new-cluster): unreachable until demoted or removed. A
    // learner still catching up does not count for quorum yet: unknown until it votes.
    const reachability = !m
      ? Reachability.REACHABILITY_UNREACHABLE
      : !m.voter
        ? Reachability.REACHABILITY_UNKNOWN
        : m.active || leader
          ? Reachability.REACHABILITY_REACHABLE
          : Reachability.REACHABILITY_UNREACHABLE;
    if (ms.leader !== leader || ms.reachability !== reachability)
      changes.push({ id: n.id, leader, reachability });
  }
  return { promote, nodes: changes, roles: planRoles(group, nodes) };
}

export interface MembershipRaft {
  group(): GroupView;
  promote(id: number, timeoutMs: number): Promise<void>;
  removeMember(id: number): Promise<void>;
  transferLeadership(to: number): Promise<void>;
}

/**
 * Runs the plan every `periodMs` while started (a LeaderComponent: the caller starts it when this member
 * leads, stops it when not). One pass at a time; a failed pass is reported and the next one retries.
 */
export class MembershipReconciler {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly store: Store,
    private readonly raft: MembershipRaft,
    private readonly o: {
      periodMs?: number;
      onError?: (err: unknown) => void;
      log?: (msg: string) => void;
    } = {},
  ) {}

  /** What the last pass could not do yet, by node (logged when it changes). */
  private waiting = new Map<string, string>();

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.pass(), this.o.periodMs ?? 500);
    void this.pass();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<void> {
    if (this.busy || !this.timer) return;
    this.busy = true;
    try {
      const plan = planMembership(
        this.raft.group(),
        this.store.view((tx) => tx.list('node')),
      );
      for (const id of plan.promote) await this.raft.promote(id, 5_000);
      for (const step of plan.roles) {
        if (!this.timer) return;
        await this.carryOut(step);
      }
      if (plan.nodes.length > 0 && this.timer)
        await this.store.update((tx) => {
          for (const c of plan.nodes) {
            const n = tx.get('node', c.id);
            if (!n?.managerStatus) continue;
            const next = clone('node', n);
            next.managerStatus = { ...n.managerStatus, leader: c.leader, reachability: c.reachability };
            tx.update('node', next);
          }
        });
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      this.busy = false;
    }
  }

  private async carryOut(step: RoleStep): Promise<void> {
    const log = this.o.log ?? (() => {});
    if (step.kind === 'wait') {
      if (this.waiting.get(step.nodeId) !== step.why)
        log(`demotion of node ${step.nodeId} waits: ${step.why}`);
      this.waiting.set(step.nodeId, step.why);
      return;
    }
    this.waiting.delete(step.nodeId);
    switch (step.kind) {
      case 'make-manager':
        await this.setRole(step.nodeId, NodeRole.NODE_ROLE_MANAGER);
        log(`node ${step.nodeId} promoted: its next certificate is a manager's`);
        return;
      case 'transfer':
        log(`node ${step.nodeId} (this leader) is demoted: handing leadership to raft member ${step.to}`);
        await this.raft.transferLeadership(step.to);
        return;
      case 'remove-member':
        await this.raft.removeMember(step.raftId);
        log(`node ${step.nodeId} demoted: raft member ${step.raftId} removed`);
        await this.setRole(step.nodeId, NodeRole.NODE_ROLE_WORKER);
        return;
      case 'make-worker':
        await this.setRole(step.nodeId, NodeRole.NODE_ROLE_WORKER);
        log(`node ${step.nodeId} demoted to a worker`);
        return;
    }
  }

  /** The node's role as its next certificate carries it; a worker keeps no ManagerStatus. */
  private async setRole(nodeId: string, role: NodeRole): Promise<void> {
    await retryConflicts(() => this.setRoleOnce(nodeId, role));
  }

  private async setRoleOnce(nodeId: string, role: NodeRole): Promise<void> {
    await this.store.update((tx) => {
      const n = tx.get('node', nodeId);
      if (!n || n.spec?.desiredRole !== role) return; // changed again meanwhile: the next pass decides
      if (role === NodeRole.NODE_ROLE_WORKER) {
        forgetManager(tx, n);
        return;
      }
      const next = clone('node', n);
      next.role = role;
      tx.update('node', next);
    });
  }
}
