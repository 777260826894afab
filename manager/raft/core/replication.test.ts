import { describe, expect, it } from 'vitest';
import { Inflights } from './inflights.js';
import { TestCluster } from './testkit.js';
import { ProposalDroppedError } from './types.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('log replication', () => {
  it('batches entries up to maxSizePerMsg per append (at least one entry each)', () => {
    const c = new TestCluster([1, 2], { maxSizePerMsg: 10 });
    c.campaign(1);
    c.isolate(2);
    for (let i = 0; i < 6; i++) c.propose(1, `e${i}-xx`); // 5 bytes each
    c.heal();
    c.sent.length = 0;
    c.tick(1); // heartbeat → response → appends resume
    c.stabilize();
    const apps = c.sent.filter((m) => m.type === 'app' && m.entries.length > 0);
    expect(apps.length).toBeGreaterThan(1);
    for (const m of apps) {
      const bytes = m.entries.reduce((n, e) => n + e.data.length, 0);
      expect(bytes <= 10 || m.entries.length === 1).toBe(true);
    }
    expect(c.data(2)).toEqual(['e0-xx', 'e1-xx', 'e2-xx', 'e3-xx', 'e4-xx', 'e5-xx']);
  });

  it('pipelines in replicate state but never exceeds maxInflightMsgs unacknowledged appends', () => {
    const c = new TestCluster([1, 2], { maxInflightMsgs: 3 });
    c.campaign(1);
    c.filter = (m) => !(m.from === 2 && m.type === 'appResp'); // acks lost
    c.sent.length = 0;
    for (let i = 0; i < 10; i++) c.propose(1, `x${i}`);
    const apps = c.sent.filter((m) => m.type === 'app' && m.to === 2);
    expect(apps).toHaveLength(3);
    expect(c.get(1).node.status().progress[2]).toMatchObject({ state: 'replicate', inflight: 3 });
    c.heal();
    c.stabilize();
    c.tick(1);
    c.stabilize();
    expect(c.data(2)).toHaveLength(10);
  });

  it('probes one append at a time until the follower matches, then replicates', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `a${i}`);
    c.stabilize();
    const pr = c.get(1).node.status().progress[3];
    expect(pr.match).toBeLessThan(c.get(1).node.status().lastIndex);
    c.heal();
    c.tick(1);
    c.stabilize();
    expect(c.get(1).node.status().progress[3]).toMatchObject({ state: 'replicate' });
    expect(c.data(3)).toEqual(c.data(1));
  });

  it('backtracks a long divergent tail in few round trips (conflict term hint)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'base');
    c.stabilize();
    // Leader 1 appends 50 entries nobody else gets, then loses leadership.
    c.isolate(1);
    for (let i = 0; i < 50; i++) c.propose(1, `lost${i}`);
    c.campaign(2);
    expect(c.leader()!.id).toBe(2);
    for (let i = 0; i < 60; i++) c.propose(2, `new${i}`);
    c.stabilize();
    // Node 3 takes over with the long log, so its first probe to 1 lands far beyond 1's divergent tail.
    c.campaign(3);
    expect(c.leader()!.id).toBe(3);
    c.heal();
    c.sent.length = 0;
    c.tick(3);
    c.stabilize();
    const rejects = c.sent.filter((m) => m.type === 'appResp' && m.from === 1 && m.reject);
    // One rejection skips the whole divergent term instead of one entry per round trip.
    expect(rejects.length).toBeGreaterThan(0);
    expect(rejects.length).toBeLessThanOrEqual(2);
    expect(c.data(1)).toEqual(c.data(3));
    expect(c.data(1)).toHaveLength(61);
  });

  it('does not commit an entry from an earlier term by counting replicas (Figure 8)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    // X (term 2) reaches only node 1's log.
    c.filter = () => false;
    c.propose(1, 'X');
    const x = c.get(1).node.status().lastIndex;
    // Node 2 wins term 3 (its appends are lost), then node 1 wins term 4 with X still in its log.
    c.filter = (m) => m.type === 'vote' || m.type === 'voteResp';
    c.campaign(2);
    expect(c.get(2).node.status()).toMatchObject({ role: 'leader', term: 3 });
    c.filter = (m) => (m.type === 'vote' || m.type === 'voteResp') && m.from !== 2 && m.to !== 2;
    c.campaign(1);
    expect(c.get(1).node.status()).toMatchObject({ role: 'leader', term: 4, lastIndex: x + 1 });
    c.filter = () => false;
    const leader = c.get(1).node;
    const ack = (index: number) => {
      leader.step({
        type: 'appResp',
        to: 1,
        from: 3,
        term: 4,
        index,
        logTerm: 0,
        entries: [],
        commit: 0,
        reject: false,
        rejectHint: 0,
      });
      c.process(c.get(1));
    };
    // X is now on a majority (1 and 3) but is from term 2: counting replicas must not commit it.
    ack(x);
    expect(leader.status().commit).toBeLessThan(x);
    // The term-4 no-op on a majority commits it, and X with it.
    ack(x + 1);
    expect(leader.status().commit).toBe(x + 1);
  });

  it('forwards proposals from followers and drops them without a leader', () => {
    const c = new TestCluster([1, 2, 3]);
    expect(() => c.propose(2, 'nobody')).toThrow(ProposalDroppedError);
    c.campaign(1);
    expect(c.propose(2, 'fwd')).toBeUndefined();
    c.stabilize();
    expect(c.data(3)).toEqual(['fwd']);
    const t = c.propose(1, 'direct');
    c.stabilize();
    const e = c.get(2).applied.find((x) => x.index === t!.index)!;
    expect(e.term).toBe(t!.term);
  });

  it('drops proposals beyond maxUncommittedEntriesSize at the leader', () => {
    const c = new TestCluster([1, 2, 3], { maxUncommittedEntriesSize: 20 });
    c.campaign(1);
    c.isolate(1);
    c.get(1).node.propose(enc('0123456789'));
    c.get(1).node.propose(enc('0123456789'));
    expect(() => c.get(1).node.propose(enc('0123456789'))).toThrow(/uncommitted/);
    c.heal();
    c.tick(1);
    c.stabilize();
    c.propose(1, 'fits again');
    c.stabilize();
    expect(c.data(2)).toHaveLength(3);
  });
});

describe('Inflights', () => {
  it('is a bounded ring freed by acknowledgements', () => {
    const w = new Inflights(3);
    w.add(5, 10);
    w.add(7, 10);
    w.add(9, 10);
    expect(w.full()).toBe(true);
    expect(() => w.add(11, 1)).toThrow(/full/);
    w.freeLE(7);
    expect(w.count).toBe(1);
    expect(w.bytes).toBe(10);
    w.add(11, 1);
    w.add(12, 1);
    w.freeFirstOne();
    expect(w.count).toBe(2);
    w.freeLE(100);
    expect(w.count).toBe(0);
  });
});
