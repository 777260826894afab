// Removed members stay removed: their messages are dropped and their ids are never added again, whether the
// removal was seen applied here or told by the application (which keeps the ids across snapshots and a
// forced new cluster). Without pre-vote and check-quorum, nothing else would stop a removed member that
// campaigns at a higher term from deposing the leader.
import { describe, expect, it } from 'vitest';
import { newMessage } from './raft.js';
import { TestCluster } from './testkit.js';

const none = new Uint8Array(0);

describe('removed members', () => {
  it('a removed member that campaigns at a higher term is ignored (no pre-vote, no check-quorum)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.get(1).node.proposeConfChange({ type: 'remove', nodeId: 3, context: none });
    c.filter = (m) => m.to !== 3; // node 3 never learns of its removal
    c.stabilize();
    const term = c.get(1).node.status().term;
    c.heal();
    c.campaign(3);
    c.campaign(3);
    expect(c.get(3).node.status().term).toBeGreaterThan(term);
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', term });
    expect(c.get(2).node.status()).toMatchObject({ role: 'follower', term, leader: 1 });
    c.propose(1, 'after');
    c.stabilize();
    expect(c.data(2)).toContain('after');
    expect(c.data(3)).not.toContain('after');
  });

  it('the same member without the removal remembered would depose the leader (the check above can fail)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.campaign(3);
    c.campaign(3);
    c.heal();
    c.campaign(3);
    c.stabilize();
    expect(c.get(1).node.status().role).not.toBe('leader');
  });

  it('a removed id cannot be added again, as a learner or a voter', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.get(1).node.proposeConfChange({ type: 'remove', nodeId: 3, context: none });
    c.stabilize();
    for (const type of ['addLearner', 'addVoter'] as const)
      expect(() => c.get(1).node.proposeConfChange({ type, nodeId: 3, context: none })).toThrow(
        /member 3 was removed from the cluster; its id cannot be used again/,
      );
    expect(c.get(1).node.status().config.voters).toEqual([1, 2]);
    expect(c.get(2).node.removedIds()).toEqual([3]);
  });

  it('ids the application marks removed are refused the same way, and survive a storage-fault rebuild', () => {
    const c = new TestCluster([1, 2]);
    c.campaign(1);
    for (const id of [1, 2]) c.get(id).driver.markRemoved([9, id]); // its own id is never marked
    expect(c.get(1).node.removedIds()).toEqual([9]);
    expect(() => c.get(1).node.proposeConfChange({ type: 'addLearner', nodeId: 9, context: none })).toThrow(
      /member 9 was removed/,
    );
    const term = c.get(2).node.status().term;
    c.get(2).driver.step(
      newMessage({ type: 'vote', to: 2, from: 9, term: term + 5, index: 99, logTerm: 99 }),
    );
    expect(c.get(2).node.status()).toMatchObject({ term, leader: 1 });
  });
});
