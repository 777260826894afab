import { describe, expect, it } from 'vitest';
import { MemoryStorage } from './storage.js';
import { TestCluster, type TestNode } from './testkit.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './types.js';

function snapshotAndCompact(tn: TestNode, keep = 0): void {
  const st = tn.node.status();
  const data = new TextEncoder().encode(JSON.stringify(tn.applied.map((e) => e.index)));
  tn.storage.createSnapshot(st.applied, tn.node.confState(), data);
  tn.storage.compact(st.applied - keep);
}

describe('snapshots', () => {
  it('a follower behind the compacted log catches up with a snapshot, then by log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `v${i}`);
    c.stabilize();
    snapshotAndCompact(c.get(1));
    c.heal();
    c.sent.length = 0;
    c.tick(1);
    c.stabilize();
    const snaps = c.sent.filter((m) => m.type === 'snap' && m.to === 3);
    expect(snaps).toHaveLength(1);
    c.get(1).node.reportSnapshot(3, true);
    const n3 = c.get(3);
    expect(n3.storage.snapshot().metadata.index).toBe(snaps[0].snapshot!.metadata.index);
    expect(n3.node.status().applied).toBe(snaps[0].snapshot!.metadata.index);
    c.propose(1, 'after');
    c.stabilize();
    c.tick(1);
    c.stabilize();
    expect(c.get(1).node.status().progress[3].state).toBe('replicate');
    expect(n3.applied.map((e) => new TextDecoder().decode(e.data))).toEqual(['after']);
  });

  it('a new member joining after compaction is sent a snapshot', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.stabilize();
    snapshotAndCompact(c.get(1));
    c.add(4, false);
    c.get(1).node.proposeConfChange({ type: 'addLearner', nodeId: 4, context: new Uint8Array(0) });
    c.stabilize();
    c.tick(1);
    c.stabilize();
    expect(c.get(4).storage.snapshot().metadata.index).toBeGreaterThan(0);
    expect(c.get(4).node.status().config.learners).toEqual([4]);
  });

  it('a restarted node restores from its snapshot and replays the rest of the log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.campaign(1);
    for (let i = 0; i < 6; i++) c.propose(1, `v${i}`);
    c.stabilize();
    snapshotAndCompact(c.get(2), 2);
    c.propose(1, 'tail');
    c.stabilize();
    const snapIndex = c.get(2).storage.snapshot().metadata.index;
    const tn = c.restart(2);
    // Only entries after the snapshot are delivered again.
    expect(tn.applied[0].index).toBe(snapIndex + 1);
    expect(c.data(2)).toEqual(['tail']);
    expect(tn.node.status().config.voters).toEqual([1, 2, 3]);
  });
});

describe('MemoryStorage', () => {
  const ent = (index: number, term: number) => ({
    index,
    term,
    type: 'normal' as const,
    data: new Uint8Array(0),
  });

  it('appends, truncates conflicting suffixes and reports bounds with typed errors', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 2)]);
    expect(s.lastIndex()).toBe(3);
    s.append([ent(3, 3), ent(4, 3)]);
    expect(s.term(3)).toBe(3);
    expect(s.entries(1, 5).map((e) => e.term)).toEqual([1, 1, 3, 3]);
    expect(() => s.append([ent(7, 3)])).toThrow(UnavailableError);
    expect(() => s.term(9)).toThrow(UnavailableError);
    s.createSnapshot(2, { voters: [1], learners: [] }, new Uint8Array([7]));
    s.compact(2);
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2)).toBe(1);
    expect(() => s.entries(2, 3)).toThrow(CompactedError);
    expect(() => s.createSnapshot(1, { voters: [1], learners: [] }, new Uint8Array())).toThrow(
      SnapshotOutOfDateError,
    );
    expect(s.initialState().confState.voters).toEqual([1]);
  });

  it('limits entries by size but returns at least one', () => {
    const s = new MemoryStorage();
    const big = (i: number) => ({ index: i, term: 1, type: 'normal' as const, data: new Uint8Array(100) });
    s.append([big(1), big(2), big(3)]);
    expect(s.entries(1, 4, 10)).toHaveLength(1);
    expect(s.entries(1, 4, 250)).toHaveLength(2);
  });
});
