import { describe, expect, it } from 'vitest';
import { TestCluster } from './testkit.js';

function electLeader(c: TestCluster, max = 60): void {
  for (let i = 0; i < max && !c.leader(); i++) {
    c.tickAll();
    c.stabilize();
  }
}

describe('pre-vote', () => {
  it('a partitioned node rejoining does not bump the term or depose the leader', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true });
    c.campaign(1);
    const term = c.get(1).node.status().term;
    c.isolate(3);
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.stabilize();
    }
    // Pre-votes fail without a quorum, so node 3 never increments its term.
    expect(c.get(3).node.status().term).toBe(term);
    expect(c.get(3).node.status().role).toBe('preCandidate');
    c.heal();
    c.tickAll();
    c.stabilize();
    expect(c.leader()!.id).toBe(1);
    expect(c.get(1).node.status().term).toBe(term);
    expect(c.get(3).node.status()).toMatchObject({ role: 'follower', leader: 1 });
  });

  it('without pre-vote the same rejoin disrupts the leader (control)', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false });
    c.campaign(1);
    const term = c.get(1).node.status().term;
    c.isolate(3);
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect(c.get(3).node.status().term).toBeGreaterThan(term + 2);
    c.heal();
    c.tick(3, 30);
    c.stabilize();
    expect(c.get(1).node.status().term).toBeGreaterThan(term);
  });
});

describe('check-quorum', () => {
  it('a member heard from last round reads reachable while the new round has not heard from it yet', () => {
    const c = new TestCluster([1, 2, 3], { checkQuorum: true });
    c.campaign(1);
    const progress = (id: number) => c.get(1).node.status().progress[id];
    // Tick the leader alone (nothing delivered) until a round begins: nobody has answered in it yet.
    for (let i = 0; i < 30 && progress(2).recentActive; i++) c.tick(1);
    expect(progress(2)).toMatchObject({ recentActive: false, reachable: true });
    expect(progress(3)).toMatchObject({ recentActive: false, reachable: true });
    c.stabilize();
    // A member cut off for a whole round is not reachable; the one that answers stays so.
    c.isolate(3);
    for (let i = 0; i < 25; i++) {
      c.tick(1);
      c.stabilize();
    }
    expect(progress(2).reachable).toBe(true);
    expect(progress(3).reachable).toBe(false);
    c.heal();
    c.tick(1);
    c.stabilize();
    expect(progress(3).reachable).toBe(true);
  });

  it('a leader that cannot reach a majority steps down after an election timeout', () => {
    const c = new TestCluster([1, 2, 3], { checkQuorum: true });
    c.campaign(1);
    c.isolate(1);
    c.tick(1, 10);
    expect(c.get(1).node.status().role).toBe('leader');
    c.tick(1, 10);
    expect(c.get(1).node.status()).toMatchObject({ role: 'follower', leader: 0 });
  });

  it('followers with a live leader ignore vote requests (leader lease)', () => {
    const c = new TestCluster([1, 2, 3], { checkQuorum: true });
    c.campaign(1);
    const term = c.get(1).node.status().term;
    // Node 3 times out alone (e.g. it cannot hear the leader) and campaigns: the others ignore it.
    c.filter = (m) => !(m.to === 3 && m.from === 1);
    c.tick(3, 25);
    c.stabilize();
    expect(c.get(3).node.status().term).toBeGreaterThan(term);
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', term });
    expect(c.get(2).node.status()).toMatchObject({ term, leader: 1 });
  });
});

describe('restart', () => {
  it('a node restarts from storage with the same id, term, vote and log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'a');
    c.propose(1, 'b');
    c.stabilize();
    const before = c.get(2).node.status();
    c.restart(2);
    const after = c.get(2).node.status();
    expect(after).toMatchObject({ id: 2, term: before.term, vote: before.vote, lastIndex: before.lastIndex });
    expect(after.config.voters).toEqual([1, 2, 3]);
    // Committed entries are delivered again to rebuild the state machine.
    expect(c.data(2)).toEqual(['a', 'b']);
    c.propose(1, 'c');
    c.stabilize();
    expect(c.data(2)).toEqual(['a', 'b', 'c']);
  });

  it('a whole cluster restarts and elects a leader again', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    electLeader(c);
    c.propose(c.leader()!.id, 'kept');
    c.stabilize();
    for (const id of [1, 2, 3]) c.restart(id);
    electLeader(c);
    expect(c.leader()).toBeDefined();
    for (const id of [1, 2, 3]) expect(c.data(id)).toEqual(['kept']);
  });
});
