import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../sim/prng.js';
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

  it('a sole voter leads at its first tick, new or restarted; a member of three waits its timeout', () => {
    const one = new TestCluster([1], { preVote: true, checkQuorum: true });
    one.tick(1);
    one.stabilize();
    expect(one.get(1).node.status().role).toBe('leader');
    one.restart(1);
    one.tick(1);
    one.stabilize();
    expect(one.get(1).node.status().role).toBe('leader');
    const three = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    three.tickAll(9);
    three.stabilize();
    expect(three.leader()).toBeUndefined();
  });
});

describe('a leader whose connection broke (reportPeerLost)', () => {
  const overrides = (seed: number) => ({ preVote: true, checkQuorum: true, random: mulberry32(seed) });
  const leaderAmong = (c: TestCluster, ids: number[]) =>
    ids.find((id) => c.get(id).node.status().role === 'leader');

  /** Ticks nodes 2 and 3 (the leader, node 1, is gone) until one of them leads; returns the ticks taken. */
  function ticksToNewLeader(c: TestCluster, max: number): number {
    for (let t = 1; t <= max; t++) {
      c.tick(2);
      c.tick(3);
      c.stabilize();
      if (leaderAmong(c, [2, 3]) !== undefined) return t;
    }
    return Number.POSITIVE_INFINITY;
  }

  it('is replaced within a few ticks when its followers saw the connection break, not an election timeout', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const c = new TestCluster([1, 2, 3], overrides(seed));
      c.campaign(1);
      const term = c.get(1).node.status().term;
      c.isolate(1); // crashed
      c.get(2).node.reportPeerLost(1);
      c.get(3).node.reportPeerLost(1);
      const ticks = ticksToNewLeader(c, 9);
      expect(ticks, `seed ${seed}`).toBeLessThan(10); // electionTick is 10: no normal election is this quick
      expect(c.get(leaderAmong(c, [2, 3])!).node.status().term).toBeGreaterThan(term); // a tie costs a term
    }
  });

  it('without the report the same crash takes at least an election timeout (control)', () => {
    const c = new TestCluster([1, 2, 3], overrides(1));
    c.campaign(1);
    c.isolate(1);
    expect(ticksToNewLeader(c, 9)).toBe(Number.POSITIVE_INFINITY);
    expect(ticksToNewLeader(c, 30)).toBeLessThan(Number.POSITIVE_INFINITY);
  });

  it('a follower alone losing its link to a live leader neither bumps the term nor deposes it', () => {
    const c = new TestCluster([1, 2, 3], overrides(7));
    c.campaign(1);
    const term = c.get(1).node.status().term;
    const cut = (m: { from: number; to: number }) =>
      (m.from === 1 && m.to === 3) || (m.from === 3 && m.to === 1);
    c.filter = (m) => !cut(m);
    c.get(3).node.reportPeerLost(1);
    for (let i = 0; i < 40; i++) {
      c.tickAll();
      c.stabilize();
    }
    // Node 3 campaigns quickly, but node 2 still hears the leader and ignores it.
    expect(c.get(3).node.status().role).toBe('preCandidate');
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', term });
    c.heal();
    c.tickAll();
    c.stabilize();
    expect(c.get(3).node.status()).toMatchObject({ role: 'follower', leader: 1, term });
    // Hearing the leader again ends the hurry: a later silence waits out a whole election timeout.
    c.isolate(1);
    for (let i = 0; i < 9; i++) {
      c.tick(2);
      c.tick(3);
      c.stabilize();
    }
    expect(leaderAmong(c, [2, 3])).toBeUndefined();
  });

  it('keeps naming a live leader while it hurries; the leader heard again ends the hurry before a campaign', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const c = new TestCluster([1, 2, 3], overrides(seed));
      c.campaign(1);
      const term = c.get(1).node.status().term;
      c.get(3).node.reportPeerLost(1); // a stale connection broke; the leader still reaches node 3
      expect(c.get(3).node.status()).toMatchObject({ role: 'follower', leader: 1 });
      // The leader's heartbeat comes before node 3's next tick.
      c.tick(1);
      c.stabilize();
      for (let i = 0; i < 30; i++) {
        c.tickAll();
        c.stabilize();
        expect(c.get(3).node.status(), `seed ${seed}`).toMatchObject({ role: 'follower', leader: 1, term });
      }
    }
  });

  it('is ignored for a member that is not our leader, and by the leader itself', () => {
    const c = new TestCluster([1, 2, 3], overrides(3));
    c.campaign(1);
    c.get(2).node.reportPeerLost(3);
    c.get(1).node.reportPeerLost(2);
    c.isolate(1);
    expect(ticksToNewLeader(c, 9)).toBe(Number.POSITIVE_INFINITY);
    expect(c.get(1).node.status().role).toBe('leader');
  });
});
