import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../sim/prng.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import type { Config, Ready } from './types.js';
import { RaftError } from './types.js';

function cfg(storage: MemoryStorage, extra: Partial<Config> = {}): Config {
  return {
    id: 1,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsg: 1024,
    maxInflightMsgs: 16,
    maxUncommittedEntriesSize: 0,
    random: mulberry32(1),
    ...extra,
  };
}

function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
}

describe('RawNode Ready contract', () => {
  it('hands out one Ready at a time; work done meanwhile goes into the next one', () => {
    const s = new MemoryStorage();
    const n = new RawNode(cfg(s));
    n.bootstrap([1]);
    const rd1 = n.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([1]);
    expect(rd1.mustSync).toBe(true);
    expect(rd1.hardState).toEqual({ term: 1, vote: 0, commit: 1 });
    expect(() => n.ready()).toThrow(RaftError);
    expect(n.hasReady()).toBe(false);
    n.campaign(); // stepped while rd1 is being persisted
    persist(s, rd1);
    n.advance();
    expect(() => n.advance()).toThrow(/no outstanding Ready/);
    // The campaign happened before the conf change was applied: blocked (config may be stale), retry now.
    n.campaign();
    const rd2 = n.ready();
    expect(rd2.softState).toEqual({ leader: 1, role: 'leader' });
    expect(rd2.hardState).toMatchObject({ term: 2, vote: 1 });
  });

  it('a leader commits its own entry only after it was persisted (advance)', () => {
    const s = new MemoryStorage();
    const n = new RawNode(cfg(s));
    n.bootstrap([1]);
    persist(s, n.ready());
    n.advance();
    n.campaign();
    persist(s, n.ready());
    n.advance();
    // The no-op is now durable and committed.
    let rd = n.ready();
    persist(s, rd);
    n.advance();
    const t = n.propose(new TextEncoder().encode('x'))!;
    rd = n.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([t.index]);
    expect(rd.committedEntries.map((e) => e.index)).not.toContain(t.index);
    persist(s, rd);
    n.advance();
    rd = n.ready();
    expect(rd.committedEntries.map((e) => [e.index, e.term])).toEqual([[t.index, t.term]]);
    expect(rd.mustSync).toBe(false); // only the commit index moved
  });

  it('refuses to bootstrap a node that already has state', () => {
    const s = new MemoryStorage();
    const n = new RawNode(cfg(s));
    n.bootstrap([1, 2]);
    persist(s, n.ready());
    n.advance();
    expect(() => new RawNode(cfg(s)).bootstrap([1, 2])).toThrow(/not empty/);
    expect(() => new RawNode(cfg(new MemoryStorage())).bootstrap([])).toThrow(/voters/);
    expect(() => new RawNode(cfg(new MemoryStorage())).bootstrap([1, 1])).toThrow(/duplicates/);
  });

  it('restarts with Config.applied: entries up to it are not delivered again, their conf changes still count', () => {
    const s = new MemoryStorage();
    const n = new RawNode(cfg(s));
    n.bootstrap([1, 2, 3]);
    persist(s, n.ready());
    n.advance();
    const again = new RawNode(cfg(s, { applied: 3 }));
    expect(again.status().config.voters).toEqual([1, 2, 3]);
    expect(again.hasReady()).toBe(false);
    const replay = new RawNode(cfg(s));
    expect(replay.ready().committedEntries).toHaveLength(3);
  });

  it('rejects a commit index beyond the stored log (corrupt hard state)', () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 1, vote: 0, commit: 5 });
    expect(() => new RawNode(cfg(s))).toThrow(/hardState\.commit 5/);
  });
});
