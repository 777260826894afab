import { describe, expect, it } from 'vitest';
import { TestCluster } from './testkit.js';
import { ProposalDroppedError } from './types.js';

describe('leader transfer', () => {
  it('hands leadership to an up-to-date follower with TimeoutNow', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    c.campaign(1);
    c.propose(1, 'a');
    c.stabilize();
    c.get(1).node.transferLeadership(3);
    c.stabilize();
    expect(c.sent.some((m) => m.type === 'timeoutNow' && m.to === 3)).toBe(true);
    expect(c.leader()!.id).toBe(3);
    expect(c.get(1).node.status()).toMatchObject({ role: 'follower', leader: 3 });
    c.propose(3, 'b');
    c.stabilize();
    expect(c.data(1)).toEqual(['a', 'b']);
  });

  it('catches a lagging transferee up first, dropping proposals meanwhile', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'missed');
    c.stabilize();
    c.heal();
    c.get(1).node.transferLeadership(3);
    expect(() => c.get(1).node.propose(new Uint8Array([1]))).toThrow(ProposalDroppedError);
    c.stabilize();
    c.tick(1);
    c.stabilize();
    expect(c.leader()!.id).toBe(3);
    expect(c.data(3)).toEqual(['missed']);
  });

  it('is abandoned after an election timeout if the transferee never catches up', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.get(1).node.transferLeadership(3);
    expect(c.get(1).node.status().leadTransferee).toBe(3);
    c.tick(1, 10);
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', leadTransferee: 0 });
    c.propose(1, 'accepted again');
    c.stabilize();
    expect(c.data(2)).toEqual(['accepted again']);
  });

  it('followers forward a transfer request to the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.get(2).node.transferLeadership(2);
    c.stabilize();
    expect(c.leader()!.id).toBe(2);
  });
});
