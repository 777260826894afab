// Promotion, demotion and removal of managers: the pure role plan, and the control API's checks carried out
// by the leader's reconciler over a store on an in-memory log and a raft group stand-in.
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError, type ShoalError } from '../../common/errors.js';
import { Node } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { NodeAvailability, NodeRole, NodeState, Reachability } from '../../proto/gen/shoal/swarm/v1/types.js';
import { ControlApi } from '../controlapi/index.js';
import { makeCluster, storeOnMemoryLog } from '../store/testkit.js';
import { joinRaft, type RaftGroup, type RaftMember, rememberRemoved } from './join.js';
import { type GroupView, type MembershipRaft, MembershipReconciler, planRoles } from './reconcile.js';

const { MANAGER, WORKER } = { MANAGER: NodeRole.NODE_ROLE_MANAGER, WORKER: NodeRole.NODE_ROLE_WORKER };

function mk(id: string, desired: NodeRole, role: NodeRole, raftId = 0, reachable = true) {
  return Node.fromPartial({
    id,
    spec: { desiredRole: desired, availability: NodeAvailability.NODE_AVAILABILITY_ACTIVE },
    role,
    status: { state: NodeState.NODE_STATE_READY },
    ...(raftId
      ? {
          managerStatus: {
            raftId,
            addr: `10.0.0.${raftId}:2377`,
            reachability: reachable
              ? Reachability.REACHABILITY_REACHABLE
              : Reachability.REACHABILITY_UNREACHABLE,
          },
        }
      : {}),
  });
}

const view = (leaderId: number, members: [number, boolean, boolean][]): GroupView => ({
  leaderId,
  commit: 10,
  members: members.map(([id, voter, active]) => ({ id, voter, active, match: 10 - id })),
});

describe('planRoles', () => {
  const g = view(1, [
    [1, true, true],
    [2, true, true],
    [3, true, true],
  ]);

  it('promotes at once and removes a demoted follower from raft', () => {
    expect(
      planRoles(g, [mk('w', MANAGER, WORKER), mk('b', WORKER, MANAGER, 2), mk('ok', MANAGER, MANAGER, 3)]),
    ).toEqual([
      { kind: 'make-manager', nodeId: 'w' },
      { kind: 'remove-member', nodeId: 'b', raftId: 2 },
    ]);
  });

  it('a demoted leader hands leadership to the most caught-up reachable voter first', () => {
    expect(planRoles(g, [mk('a', WORKER, MANAGER, 1)])).toEqual([{ kind: 'transfer', to: 2, nodeId: 'a' }]);
    const alone = view(1, [
      [1, true, true],
      [2, true, false],
      [3, false, true],
    ]);
    expect(planRoles(alone, [mk('a', WORKER, MANAGER, 1)])[0]).toMatchObject({ kind: 'wait' });
  });

  it('waits rather than lose quorum; a node out of raft only changes role', () => {
    const half = view(1, [
      [1, true, true],
      [2, true, true],
      [3, true, false],
    ]);
    expect(planRoles(half, [mk('b', WORKER, MANAGER, 2)])).toEqual([
      { kind: 'wait', nodeId: 'b', why: 'removing it would leave 1 reachable managers of 2: no quorum' },
    ]);
    // The unreachable one can go: the two left are both reachable.
    expect(planRoles(half, [mk('c', WORKER, MANAGER, 3)])).toEqual([
      { kind: 'remove-member', nodeId: 'c', raftId: 3 },
    ]);
    expect(planRoles(half, [mk('x', WORKER, MANAGER, 9)])).toEqual([{ kind: 'make-worker', nodeId: 'x' }]);
  });
});

/** A raft group stand-in: members, who is active, leadership that moves when asked. */
class Group implements RaftGroup, MembershipRaft {
  readonly id = 1;
  leaderId = 1;
  readonly list: RaftMember[] = [1, 2, 3].map((i) => ({ id: i, address: `10.0.0.${i}:2377`, voter: true }));
  readonly inactive = new Set<number>();
  leadership() {
    return { isLeader: this.leaderId === this.id, leaderId: this.leaderId };
  }
  members() {
    return this.list.map((m) => ({ ...m }));
  }
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
  async promote(id: number) {
    const m = this.list.find((x) => x.id === id);
    if (m) m.voter = true;
  }
  async transferLeadership(to: number) {
    this.leaderId = to;
  }
  group(): GroupView {
    return {
      leaderId: this.leaderId,
      commit: 10,
      members: this.list.map((m) => ({
        id: m.id,
        voter: m.voter,
        match: 10,
        active: !this.inactive.has(m.id),
      })),
    };
  }
}

async function rejection(p: Promise<unknown>): Promise<ShoalError> {
  const e = await p.then(
    () => undefined,
    (err) => err,
  );
  if (!isShoalError(e)) throw new Error(`expected a ShoalError, got ${e}`);
  return e;
}

const running: MembershipReconciler[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.stop();
});

async function cluster() {
  const { store } = storeOnMemoryLog();
  await store.update((tx) => {
    tx.create('cluster', makeCluster('c1'));
    tx.create('node', mk('m1', MANAGER, MANAGER, 1));
    tx.create('node', mk('m2', MANAGER, MANAGER, 2));
    tx.create('node', mk('m3', MANAGER, MANAGER, 3));
    tx.create('node', mk('w1', WORKER, WORKER));
  });
  const g = new Group();
  const control = new ControlApi(store);
  const reconciler = new MembershipReconciler(store, g, { periodMs: 5 });
  running.push(reconciler);
  const settle = async (until: () => boolean) => {
    for (let i = 0; i < 400 && !until(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(until()).toBe(true);
  };
  const get = (id: string) => store.view((tx) => tx.get('node', id)) as Node;
  const setRole = async (id: string, role: NodeRole) => {
    const n = get(id);
    await control.updateNode(id, n.meta!.version, { ...n.spec!, desiredRole: role });
  };
  return { store, g, control, reconciler, settle, get, setRole };
}

describe('promotion, demotion and removal through the control API', () => {
  it('promotes a worker (role first, then a learner that becomes a voter)', async () => {
    const { g, reconciler, settle, get, setRole, store } = await cluster();
    reconciler.start();
    await setRole('w1', MANAGER);
    await settle(() => get('w1').role === MANAGER);
    await joinRaft(store, g, { nodeId: 'w1', raftId: 44, addr: '10.0.0.44:2377' });
    await settle(() => g.list.find((m) => m.id === 44)?.voter === true);
  });

  it('demotes a follower: out of raft, a worker, its raft id never to join again', async () => {
    const { g, reconciler, settle, get, setRole, store } = await cluster();
    reconciler.start();
    await setRole('m3', WORKER);
    await settle(() => get('m3').role === WORKER);
    expect(get('m3').managerStatus).toBeUndefined();
    expect(g.list.map((m) => m.id)).toEqual([1, 2]);
    expect(store.view((tx) => tx.list('cluster')[0]?.removedRaftIds)).toEqual([3]);
    // Promoted again, it must come back under a new raft id.
    await setRole('m3', MANAGER);
    await settle(() => get('m3').role === MANAGER);
    const again = await rejection(joinRaft(store, g, { nodeId: 'm3', raftId: 3, addr: '10.0.0.3:2377' }));
    expect(again.kind).toBe('permission_denied');
    expect(again.message).toMatch(/raft member 3 was removed from the swarm and cannot join again/);
    await joinRaft(store, g, { nodeId: 'm3', raftId: 33, addr: '10.0.0.3:2377' });
  });

  it('demoting the leader hands leadership over first; the new leader removes it', async () => {
    const { g, settle, get, setRole, store } = await cluster();
    const first = new MembershipReconciler(store, g, { periodMs: 5 });
    running.push(first);
    first.start();
    await setRole('m1', WORKER);
    await settle(() => g.leaderId !== 1);
    expect(g.list.map((m) => m.id)).toEqual([1, 2, 3]); // not removed by the old leader
    first.stop();
    // The stand-in "is" member 1; let the reconciler act as the new leader's would.
    (g as { id: number }).id = g.leaderId;
    const second = new MembershipReconciler(store, g, { periodMs: 5 });
    running.push(second);
    second.start();
    await settle(() => get('m1').role === WORKER);
    expect(g.list.map((m) => m.id)).toEqual([2, 3]);
  });

  it('removes a dead manager with rm --force (out of raft first), then a new one can join', async () => {
    const { g, control, reconciler, store, get } = await cluster();
    g.inactive.add(3);
    reconciler.start();
    // The leader's view reaches the store: m3 unreachable.
    for (
      let i = 0;
      i < 200 && get('m3').managerStatus?.reachability !== Reachability.REACHABILITY_UNREACHABLE;
      i++
    )
      await new Promise((r) => setTimeout(r, 5));
    const plain = await rejection(control.removeNode('m3', false));
    expect(plain.message).toBe(
      'node m3 is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal',
    );
    await control.removeNode('m3', true);
    expect(store.view((tx) => tx.get('node', 'm3'))).toBeUndefined();
    expect(g.list.map((m) => m.id)).toEqual([1, 2]);
    await store.update((tx) => tx.create('node', mk('m4', MANAGER, MANAGER)));
    await joinRaft(store, g, { nodeId: 'm4', raftId: 4, addr: '10.0.0.4:2377' });
    expect(g.list.map((m) => m.id)).toEqual([1, 2, 4]);
  });

  it('refuses the last manager, a quorum loss, an active manager, a ready node and an unknown one; nothing changes', async () => {
    const { g, control, store, setRole } = await cluster();
    // m3 unreachable: demoting m2 would leave m1 alone of two.
    await store.update((tx) => {
      const n = tx.get('node', 'm3') as Node;
      tx.update('node', {
        ...n,
        managerStatus: { ...n.managerStatus!, reachability: Reachability.REACHABILITY_UNREACHABLE },
      });
    });
    const before = store.view((tx) => tx.list('node'));
    const quorum = await rejection(setRole('m2', WORKER));
    expect(quorum.kind).toBe('failed_precondition');
    expect(quorum.message).toMatch(
      /^can't remove member from the raft: this would result in a loss of quorum/,
    );
    const active = await rejection(control.removeNode('m2', true));
    expect(active.message).toMatch(/must be demoted to worker before removal/);
    const ready = await rejection(control.removeNode('w1', false));
    expect(ready.message).toBe("node w1 is not down and can't be removed (use --force to remove it anyway)");
    const unknown = await rejection(control.removeNode('nope', false));
    expect(unknown.kind).toBe('not_found');
    expect(() => control.getNode('nope')).toThrow(/node nope not found/);
    expect(store.view((tx) => tx.list('node'))).toEqual(before);
    expect(g.list).toHaveLength(3);

    const { store: s1, control: c1 } = await (async () => {
      const { store } = storeOnMemoryLog();
      await store.update((tx) => tx.create('node', mk('solo', MANAGER, MANAGER, 1)));
      return { store, control: new ControlApi(store) };
    })();
    const solo = s1.view((tx) => tx.get('node', 'solo')) as Node;
    const last = await rejection(
      c1.updateNode('solo', solo.meta!.version, { ...solo.spec!, desiredRole: WORKER }),
    );
    expect(last.message).toBe('attempting to demote the last manager of the swarm');
    expect(s1.view((tx) => tx.get('node', 'solo'))).toEqual(solo);
  });

  it('after a forced new cluster, the lost managers (raft ids removed) are demoted and removed without a quorum check', async () => {
    const { g, control, reconciler, store, get, setRole, settle } = await cluster();
    g.list.splice(1, 2); // raft is m1 alone now
    await store.update((tx) => {
      rememberRemoved(tx, [2, 3]);
      for (const id of ['m2', 'm3']) {
        const n = tx.get('node', id) as Node;
        tx.update('node', {
          ...n,
          managerStatus: { ...n.managerStatus!, reachability: Reachability.REACHABILITY_UNREACHABLE },
        });
      }
    });
    reconciler.start();
    await setRole('m2', WORKER);
    await settle(() => get('m2').role === WORKER && !get('m2').managerStatus);
    await control.removeNode('m3', true);
    expect(store.view((tx) => tx.list('node').map((n) => n.id)).sort()).toEqual(['m1', 'm2', 'w1']);
  });
});
