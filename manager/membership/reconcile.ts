// The leader's upkeep of the managers (pure core + a leader-only runner): learners that have caught up become
// voters, and every manager Node's ManagerStatus says who leads and who is reachable, as the leader's raft
// progress sees it. Written to the store only when something changed, so followers, `node ls` and the
// dispatcher's manager list read it without asking raft.
import type { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { Reachability } from '../../proto/gen/shoal/swarm/v1/types.js';
import { clone, type Store } from '../store/index.js';

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

export interface MembershipPlan {
  /** Learners caught up with the commit index: promote them. */
  promote: number[];
  /** Nodes whose ManagerStatus should change: node id → new leader flag and reachability. */
  nodes: { id: string; leader: boolean; reachability: Reachability }[];
}

export function planMembership(group: GroupView, nodes: readonly Node[]): MembershipPlan {
  const promote = group.members.filter((m) => !m.voter && m.match >= group.commit).map((m) => m.id);
  const byId = new Map(group.members.map((m) => [m.id, m]));
  const changes: MembershipPlan['nodes'] = [];
  for (const n of nodes) {
    const ms = n.managerStatus;
    if (!ms?.raftId) continue;
    const m = byId.get(ms.raftId);
    const leader = ms.raftId === group.leaderId;
    const reachability = !m
      ? Reachability.REACHABILITY_UNKNOWN
      : m.active || leader
        ? Reachability.REACHABILITY_REACHABLE
        : Reachability.REACHABILITY_UNREACHABLE;
    if (ms.leader !== leader || ms.reachability !== reachability)
      changes.push({ id: n.id, leader, reachability });
  }
  return { promote, nodes: changes };
}

export interface MembershipRaft {
  group(): GroupView;
  promote(id: number, timeoutMs: number): Promise<void>;
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
    private readonly o: { periodMs?: number; onError?: (err: unknown) => void } = {},
  ) {}

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
}
