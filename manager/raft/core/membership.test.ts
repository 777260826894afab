import { describe, expect, it } from 'vitest';
import { decodeConfChange, encodeConfChange, InvalidConfChangeError } from './confchange.js';
import { TestCluster } from './testkit.js';

const addr = (s: string) => new TextEncoder().encode(s);

function grow(c: TestCluster, leader: number, id: number): void {
  c.add(id, false);
  c.get(leader).node.proposeConfChange({ type: 'addLearner', nodeId: id, context: addr(`10.0.0.${id}`) });
  c.stabilize();
  c.tick(leader);
  c.stabilize();
}

describe('membership', () => {
  it('adds a learner that receives the log but does not vote, then promotes it once caught up', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'before');
    c.stabilize();
    grow(c, 1, 4);
    const st = c.get(1).node.status();
    expect(st.config).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(st.progress[4]).toMatchObject({ isLearner: true, match: st.lastIndex });
    expect(c.data(4)).toEqual(['before']);
    // The learner never campaigns.
    c.tick(4, 100);
    expect(c.get(4).node.status().role).toBe('follower');
    // The conf change entry carries the context (e.g. the address) to every member.
    const cc = c
      .get(4)
      .applied.filter((e) => e.type === 'confChange')
      .map((e) => decodeConfChange(e.data));
    expect(cc.at(-1)).toMatchObject({ type: 'addLearner', nodeId: 4 });
    expect(new TextDecoder().decode(cc.at(-1)!.context)).toBe('10.0.0.4');

    c.get(1).node.proposeConfChange({ type: 'promote', nodeId: 4, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(4).node.status().config).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    // Node 4 now counts: with 1 and 2 gone, 3 and 4 cannot commit (no majority of 4).
    c.filter = (m) => m.to !== 2 && m.from !== 2;
    c.propose(1, 'needs 3 of 4');
    c.stabilize();
    expect(c.data(3)).toContain('needs 3 of 4');
  });

  it('allows one change at a time and reports bad changes naming the problem', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    const n = c.get(1).node;
    n.proposeConfChange({ type: 'addLearner', nodeId: 4, context: new Uint8Array(0) });
    expect(() => n.proposeConfChange({ type: 'addLearner', nodeId: 5, context: new Uint8Array(0) })).toThrow(
      /not applied yet/,
    );
    c.stabilize();
    expect(() => n.proposeConfChange({ type: 'promote', nodeId: 2, context: new Uint8Array(0) })).toThrow(
      /not a learner/,
    );
    expect(() => n.proposeConfChange({ type: 'remove', nodeId: 9, context: new Uint8Array(0) })).toThrow(
      InvalidConfChangeError,
    );
    expect(() => n.proposeConfChange({ type: 'addLearner', nodeId: 0, context: new Uint8Array(0) })).toThrow(
      /confChange\.nodeId/,
    );
    expect(() => decodeConfChange(new Uint8Array(3))).toThrow(/confChange/);
  });

  it('a new leader accepts no conf change until its no-op is committed', () => {
    const c = new TestCluster([1, 2, 3]);
    c.filter = (m) => m.type !== 'app';
    c.campaign(1);
    expect(c.get(1).node.status().role).toBe('leader');
    expect(() =>
      c.get(1).node.proposeConfChange({ type: 'remove', nodeId: 3, context: new Uint8Array(0) }),
    ).toThrow(/not applied yet/);
  });

  it('removes a follower; the removed node cannot disrupt the cluster', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    c.campaign(1);
    c.get(1).node.proposeConfChange({ type: 'remove', nodeId: 3, context: new Uint8Array(0) });
    // Node 3 never learns of its removal.
    c.filter = (m) => m.to !== 3;
    c.stabilize();
    expect(c.get(1).node.status().config.voters).toEqual([1, 2]);
    const term = c.get(1).node.status().term;
    for (let i = 0; i < 100; i++) {
      c.tickAll();
      c.stabilize();
    }
    c.heal();
    for (let i = 0; i < 50; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', term });
    c.propose(1, 'still fine');
    c.stabilize();
    expect(c.data(2)).toContain('still fine');
  });

  it('a leader that removes itself steps down and the rest elect a new leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.get(1).node.proposeConfChange({ type: 'remove', nodeId: 1, context: new Uint8Array(0) });
    c.stabilize();
    expect(c.get(1).node.status().role).toBe('follower');
    expect(c.get(2).node.status().config.voters).toEqual([2, 3]);
    for (let i = 0; i < 50 && !c.leader(); i++) {
      c.tickAll();
      c.stabilize();
    }
    expect([2, 3]).toContain(c.leader()!.id);
    c.tick(1, 100);
    expect(c.get(1).node.status().role).toBe('follower');
  });

  it('encodes conf changes losslessly', () => {
    const cc = { type: 'promote' as const, nodeId: 2 ** 40 + 3, context: addr('ctx') };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
  });
});
