// Joining the raft group and the leader's membership plan, over a store on an in-memory log and a raft
// group stand-in that records what it was asked (the raft node itself is tested in test/raft/).
import { describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeRole, Reachability } from '../../proto/gen/shoal/swarm/v1/types.js';
import { storeOnMemoryLog } from '../store/testkit.js';
import {
  joinRaft,
  leaveRaft,
  NotLeaderHere,
  quorumLossMessage,
  type RaftGroup,
  type RaftMember,
} from './join.js';
import { planMembership } from './reconcile.js';

class Group implements RaftGroup {
  readonly id = 1;
  leaderId = 1;
  readonly list: RaftMember[] = [{ id: 1, address: '10.0.0.1:2377', voter: true }];
  leadership() {
    return { isLeader: this.leaderId === this.id, leaderId: this.leaderId };
  }
  members() {
    return this.list.map((m) => ({ ...m }));
  }
  inactive = new Set<number>();
  async addLearner(id: number, address: string) {
    this.list.push({ id, address, voter: false });
  }
  async removeMember(id: number) {
    this.list.splice(
      this.list.findIndex((m) => m.id === id),
      1,
    );
  }
  activeIds() {
    return this.list.filter((m) => !this.inactive.has(m.id)).map((m) => m.id);
  }
}

const manager = (id: string, raftId = 0) =>
  Node.fromPartial({
    id,
    spec: { desiredRole: NodeRole.NODE_ROLE_MANAGER },
    role: NodeRole.NODE_ROLE_MANAGER,
    ...(raftId ? { managerStatus: { raftId, addr: `10.0.0.${raftId}:2377` } } : {}),
  });

async function rejection(p: Promise<unknown>): Promise<ShoalError> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  if (!isShoalError(e)) throw new Error(`expected a ShoalError, got ${e}`);
  return e;
}

describe('joinRaft', () => {
  it('adds a manager node as a learner and records its ManagerStatus; a retry is harmless', async () => {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => tx.create('node', manager('n2')));
    const g = new Group();
    const r = await joinRaft(store, g, { nodeId: 'n2', raftId: 7, addr: '10.0.0.2:2377' });
    expect(r.members).toContainEqual({ id: 7, address: '10.0.0.2:2377', voter: false });
    const n = store.view((tx) => tx.get('node', 'n2'));
    expect(n?.managerStatus).toMatchObject({ raftId: 7, addr: '10.0.0.2:2377', leader: false });
    await joinRaft(store, g, { nodeId: 'n2', raftId: 7, addr: '10.0.0.2:2377' });
    expect(g.list.filter((m) => m.id === 7)).toHaveLength(1);
  });

  it('refuses workers, bad ids and addresses, clashes, and a node already in raft under another id', async () => {
    const { store } = storeOnMemoryLog();
    const worker = Node.fromPartial({ id: 'w1', spec: { desiredRole: NodeRole.NODE_ROLE_WORKER } });
    await store.update((tx) => {
      tx.create('node', worker);
      tx.create('node', manager('n2', 2));
      tx.create('node', manager('n3'));
    });
    const g = new Group();
    g.list.push({ id: 2, address: '10.0.0.2:2377', voter: true });
    const before = store.view((tx) => tx.list('node'));
    const cases: [Parameters<typeof joinRaft>[2], string, RegExp][] = [
      [{ nodeId: 'w1', raftId: 9, addr: '10.0.0.9:2377' }, 'permission_denied', /not a manager/],
      [{ nodeId: 'gone', raftId: 9, addr: '10.0.0.9:2377' }, 'permission_denied', /not a manager/],
      [{ nodeId: 'n3', raftId: 0, addr: '10.0.0.9:2377' }, 'invalid_argument', /^raft_id/],
      [{ nodeId: 'n3', raftId: 9, addr: 'nope' }, 'invalid_argument', /^addr/],
      [{ nodeId: 'n3', raftId: 2, addr: '10.0.0.9:2377' }, 'conflict', /already exists/],
      [{ nodeId: 'n3', raftId: 9, addr: '10.0.0.2:2377' }, 'conflict', /already uses the address/],
      [{ nodeId: 'n2', raftId: 9, addr: '10.0.0.9:2377' }, 'conflict', /already raft member 2/],
    ];
    for (const [req, kind, msg] of cases) {
      const e = await rejection(joinRaft(store, g, req));
      expect(e.kind, JSON.stringify(req)).toBe(kind);
      expect(e.message).toMatch(msg);
    }
    expect(g.list.map((m) => m.id)).toEqual([1, 2]);
    expect(store.view((tx) => tx.list('node'))).toEqual(before);
  });

  it('a member that does not lead names the leader’s address', async () => {
    const { store } = storeOnMemoryLog();
    const g = new Group();
    g.list.push({ id: 2, address: '10.0.0.2:2377', voter: true });
    g.leaderId = 2;
    const e = await rejection(joinRaft(store, g, { nodeId: 'n3', raftId: 9, addr: '10.0.0.9:2377' }));
    expect(e).toBeInstanceOf(NotLeaderHere);
    expect((e as NotLeaderHere).leaderAddr).toBe('10.0.0.2:2377');
    expect(e.kind).toBe('unavailable');
  });
});

describe('leaveRaft', () => {
  async function threeManagers() {
    const { store } = storeOnMemoryLog();
    await store.update((tx) => {
      for (const i of [1, 2, 3]) tx.create('node', manager(`n${i}`, i));
    });
    const g = new Group();
    g.list.push(
      { id: 2, address: '10.0.0.2:2377', voter: true },
      { id: 3, address: '10.0.0.3:2377', voter: true },
    );
    return { store, g };
  }

  it('removes the member and turns its node into a gone worker', async () => {
    const { store, g } = await threeManagers();
    await leaveRaft(store, g, { nodeId: 'n3', force: false });
    expect(g.list.map((m) => m.id)).toEqual([1, 2]);
    const n = store.view((tx) => tx.get('node', 'n3'));
    expect(n?.managerStatus).toBeUndefined();
    expect(n?.role).toBe(NodeRole.NODE_ROLE_WORKER);
    expect(n?.spec?.desiredRole).toBe(NodeRole.NODE_ROLE_WORKER);
  });

  it('refuses to leave the rest without a quorum (unless forced), and the last manager, changing nothing', async () => {
    const { store, g } = await threeManagers();
    g.inactive.add(2);
    const before = store.view((tx) => tx.list('node'));
    const e = await rejection(leaveRaft(store, g, { nodeId: 'n3', force: false }));
    expect(e.kind).toBe('failed_precondition');
    expect(e.message).toBe(quorumLossMessage(1, 3));
    expect(g.list).toHaveLength(3);
    expect(store.view((tx) => tx.list('node'))).toEqual(before);
    await leaveRaft(store, g, { nodeId: 'n3', force: true });
    expect(g.list.map((m) => m.id)).toEqual([1, 2]);
    await leaveRaft(store, g, { nodeId: 'n2', force: true });
    const last = await rejection(leaveRaft(store, g, { nodeId: 'n1', force: true }));
    expect(last.message).toMatch(/last manager/);
  });
});

describe('planMembership', () => {
  it('promotes caught-up learners only, and writes leader/reachability changes only', () => {
    const nodes = [
      Node.fromPartial({
        id: 'a',
        managerStatus: { raftId: 1, leader: true, reachability: Reachability.REACHABILITY_REACHABLE },
      }),
      Node.fromPartial({
        id: 'b',
        managerStatus: { raftId: 2, leader: true, reachability: Reachability.REACHABILITY_REACHABLE },
      }),
      Node.fromPartial({
        id: 'c',
        managerStatus: { raftId: 3, leader: false, reachability: Reachability.REACHABILITY_REACHABLE },
      }),
      Node.fromPartial({ id: 'd', managerStatus: { raftId: 4 } }),
      Node.fromPartial({
        id: 'e',
        managerStatus: { raftId: 6, leader: false, reachability: Reachability.REACHABILITY_REACHABLE },
      }),
      Node.fromPartial({ id: 'w' }),
    ];
    const plan = planMembership(
      {
        leaderId: 1,
        commit: 50,
        members: [
          { id: 1, voter: true, match: 50, active: true },
          { id: 2, voter: true, match: 40, active: true },
          { id: 3, voter: true, match: 10, active: false },
          { id: 5, voter: false, match: 50, active: true },
          { id: 6, voter: false, match: 49, active: true },
        ],
      },
      nodes,
    );
    expect(plan.promote).toEqual([5]);
    expect(plan.nodes).toEqual([
      { id: 'b', leader: false, reachability: Reachability.REACHABILITY_REACHABLE },
      { id: 'c', leader: false, reachability: Reachability.REACHABILITY_UNREACHABLE },
      { id: 'd', leader: false, reachability: Reachability.REACHABILITY_UNREACHABLE },
      { id: 'e', leader: false, reachability: Reachability.REACHABILITY_UNKNOWN },
    ]);
  });
});
