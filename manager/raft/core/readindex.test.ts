import { describe, expect, it } from 'vitest';
import { TestCluster } from './testkit.js';
import { ProposalDroppedError } from './types.js';

const ctx = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('ReadIndex', () => {
  it('the leader answers after a heartbeat round confirms it is still leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'w');
    c.stabilize();
    const commit = c.get(1).node.status().commit;
    c.get(1).node.readIndex(ctx('r1'));
    c.process(c.get(1));
    expect(c.get(1).readStates).toEqual([]); // not before the quorum round
    c.stabilize();
    expect(c.get(1).readStates.map((r) => [r.index, text(r.context)])).toEqual([[commit, 'r1']]);
  });

  it('a partitioned leader never answers (no stale reads)', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(1);
    c.get(1).node.readIndex(ctx('stale?'));
    c.tick(1, 5);
    c.stabilize();
    expect(c.get(1).readStates).toEqual([]);
  });

  it('followers forward to the leader and get its commit index', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'w1');
    c.stabilize();
    c.get(3).node.readIndex(ctx('f'));
    c.stabilize();
    expect(c.get(3).readStates.map((r) => [r.index, text(r.context)])).toEqual([
      [c.get(1).node.status().commit, 'f'],
    ]);
    expect(() => new TestCluster([1, 2, 3]).get(2).node.readIndex(ctx('x'))).toThrow(ProposalDroppedError);
  });

  it('a new leader waits until its no-op commits before serving reads', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.filter = (m) => m.type !== 'app' && m.type !== 'appResp';
    c.campaign(2);
    expect(c.get(2).node.status().role).toBe('leader');
    c.get(2).node.readIndex(ctx('early'));
    c.tick(2, 3);
    c.stabilize();
    expect(c.get(2).readStates).toEqual([]);
    c.heal();
    c.tick(2);
    c.stabilize();
    const st = c.get(2).node.status();
    expect(c.get(2).readStates.map((r) => r.index)).toEqual([st.commit]);
  });

  it('a single-voter leader answers immediately', () => {
    const c = new TestCluster([1]);
    c.campaign(1);
    c.get(1).node.readIndex(ctx('solo'));
    c.process(c.get(1));
    expect(c.get(1).readStates).toHaveLength(1);
  });
});
