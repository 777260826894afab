import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../sim/prng.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { TestCluster } from './testkit.js';
import { RaftError } from './types.js';

describe('elections', () => {
  it('bootstraps a 3-node cluster and elects exactly one leader by timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    for (let i = 0; i < 30 && !c.leader(); i++) {
      c.tickAll();
      c.stabilize();
    }
    const leader = c.leader();
    expect(leader).toBeDefined();
    const statuses = [1, 2, 3].map((id) => c.get(id).node.status());
    expect(statuses.filter((s) => s.role === 'leader')).toHaveLength(1);
    for (const s of statuses) {
      expect(s.leader).toBe(leader!.id);
      expect(s.config.voters).toEqual([1, 2, 3]);
    }
  });

  it('a candidate with a stale log does not win', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.stabilize();
    c.heal();
    // 3 missed 'a': its vote requests are rejected by 1 and 2 whose logs are longer.
    c.campaign(3);
    expect(c.get(3).node.status().role).not.toBe('leader');
    for (let i = 0; i < 40 && !c.leader(); i++) {
      c.tickAll();
      c.stabilize();
    }
    expect([1, 2]).toContain(c.leader()!.id);
  });

  it('randomizes election timeouts from the injected PRNG', () => {
    const timeouts = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const random = mulberry32(seed);
      const s = new MemoryStorage();
      const n = new RawNode({
        id: 1,
        electionTick: 10,
        heartbeatTick: 1,
        storage: s,
        preVote: false,
        checkQuorum: false,
        maxSizePerMsg: 1024,
        maxInflightMsgs: 4,
        maxUncommittedEntriesSize: 0,
        random,
      });
      n.bootstrap([1, 2]);
      const rd = n.ready();
      s.append(rd.entries);
      n.advance();
      let ticks = 0;
      while (n.status().role === 'follower' && ticks < 100) {
        n.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      timeouts.add(ticks);
    }
    expect(timeouts.size).toBeGreaterThan(3);
  });

  it('rejects invalid configuration with the field name', () => {
    const base = {
      id: 1,
      electionTick: 10,
      heartbeatTick: 1,
      storage: new MemoryStorage(),
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1024,
      maxInflightMsgs: 4,
      maxUncommittedEntriesSize: 0,
      random: Math.random,
    };
    expect(() => new RawNode({ ...base, id: 0 })).toThrow(/config\.id/);
    expect(() => new RawNode({ ...base, heartbeatTick: 10 })).toThrow(/config\.electionTick/);
    expect(() => new RawNode({ ...base, maxInflightMsgs: 0 })).toThrow(/config\.maxInflightMsgs/);
    expect(() => new RawNode({ ...base, maxUncommittedEntriesSize: -1 })).toThrow(RaftError);
  });

  it('replicates and commits proposals on all nodes', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    expect(c.leader()!.id).toBe(1);
    c.propose(1, 'x');
    c.propose(1, 'y');
    c.stabilize();
    for (const id of [1, 2, 3]) expect(c.data(id)).toEqual(['x', 'y']);
  });
});
