import { describe, expect, it } from 'vitest';
import { FakeClock } from '../common/fake-clock.js';
import { type IdleReclaimIo, ReclaimPolicy, startIdleReclaim } from './idle-reclaim.js';

const MiB = 2 ** 20;
const opts = { growthBytes: 2 * MiB, quietChecks: 2, quietBusyRatio: 0.1, maxHeapBytes: 40 * MiB };

describe('ReclaimPolicy', () => {
  it('reclaims once the loop has been quiet for the checks asked and memory grew', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(80 * MiB);
    expect(p.check(80 * MiB, 0.02)).toBe(false);
    expect(p.check(90 * MiB, 0.9)).toBe(false); // busy
    expect(p.check(90 * MiB, 0.05)).toBe(false); // one quiet check
    expect(p.check(90 * MiB, 0.05)).toBe(true);
  });

  it('reclaims the start-up once, at the first quiet spell', () => {
    const p = new ReclaimPolicy(opts);
    expect(p.check(85 * MiB, 0.6)).toBe(false); // starting
    expect(p.check(85 * MiB, 0.05)).toBe(false);
    expect(p.check(85 * MiB, 0.05)).toBe(true);
    p.reclaimed(78 * MiB);
    for (let i = 0; i < 10; i++) expect(p.check(79 * MiB, 0.02)).toBe(false);
  });

  it('does not reclaim a daemon that stays busy, however large it grows', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(80 * MiB);
    for (let i = 1; i <= 20; i++) expect(p.check((80 + i * 5) * MiB, i % 3 === 0 ? 0.05 : 0.5)).toBe(false);
  });

  it('does not reclaim growth below the threshold', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(80 * MiB);
    for (let i = 0; i < 10; i++) expect(p.check(81.5 * MiB, 0)).toBe(false);
  });

  it('measures growth from what the last reclaim left: memory in use does not start another', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(80 * MiB);
    p.check(95 * MiB, 0);
    expect(p.check(95 * MiB, 0)).toBe(true);
    p.reclaimed(92 * MiB); // most of it was live
    for (let i = 0; i < 10; i++) expect(p.check(92.5 * MiB, 0)).toBe(false);
    p.check(96 * MiB, 0.5); // the next busy spell
    p.check(96 * MiB, 0);
    expect(p.check(96 * MiB, 0)).toBe(true);
  });

  it('lowers its mark when memory went down on its own', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(90 * MiB);
    p.check(80 * MiB, 0); // the daemon shrank by itself
    p.check(81 * MiB, 0.5);
    p.check(83 * MiB, 0);
    expect(p.check(83 * MiB, 0)).toBe(true); // 3 MiB over 80, not under 90
  });

  it('never reclaims a large heap (its collections would stop the loop too long), and does once it shrank', () => {
    const p = settled(80);
    for (let i = 0; i < 10; i++) expect(p.check(200 * MiB, 0, 41 * MiB)).toBe(false);
    expect(p.check(200 * MiB, 0, 40 * MiB)).toBe(true);
  });

  it('a busy check starts the quiet count over', () => {
    const p = new ReclaimPolicy(opts);
    p.reclaimed(80 * MiB);
    p.check(90 * MiB, 0);
    expect(p.check(90 * MiB, 0.11)).toBe(false);
    expect(p.check(90 * MiB, 0.1)).toBe(false);
    expect(p.check(90 * MiB, 0.1)).toBe(true);
  });
});

/** A fake process: a resident set the test sets, a busy share per check, a release that frees memory. */
function fakeIo() {
  const state = {
    rss: 80 * MiB,
    busy: [] as number[],
    releases: 0,
    freed: 0,
    trims: 0,
    /** freed by the release's collection but given back only by the later trim */
    freedLate: 0,
    fail: false,
    releaseMs: 0,
    heap: 20 * MiB,
    logs: [] as string[],
  };
  const clock = new FakeClock();
  const io: IdleReclaimIo = {
    rss: () => state.rss,
    busyRatio: () => state.busy.shift() ?? 0,
    heapBytes: () => state.heap,
    release() {
      state.releases++;
      clock.advance(state.releaseMs);
      if (state.fail) throw new Error('no addon');
      state.rss -= state.freed;
    },
    trim() {
      state.trims++;
      state.rss -= state.freedLate;
      state.freedLate = 0;
    },
    log: (m) => state.logs.push(m),
  };
  return { io, state, clock, tick: () => clock.advance(1000) };
}

/** A policy whose start-up reclaim is behind it, at `mib`. */
function settled(mib: number): ReclaimPolicy {
  const p = new ReclaimPolicy(opts);
  p.reclaimed(mib * MiB);
  return p;
}

describe('startIdleReclaim', () => {
  it('releases after a busy spell, once, and stops when asked', () => {
    const f = fakeIo();
    const stop = startIdleReclaim(f.io, f.clock, 1000, settled(80));
    f.tick();
    f.state.rss = 95 * MiB;
    f.state.freed = 10 * MiB;
    f.state.busy.push(0.8);
    f.tick();
    f.tick();
    f.tick();
    expect(f.state.releases).toBe(1);
    expect(f.state.rss).toBe(85 * MiB);
    for (let i = 0; i < 5; i++) f.tick();
    expect(f.state.releases).toBe(1);
    stop();
    expect(f.clock.pendingTimers).toBe(0);
    f.state.rss = 120 * MiB;
    for (let i = 0; i < 5; i++) f.tick();
    expect(f.state.releases).toBe(1);
  });

  it('trims 200 ms after a release, for what its collection let go of late, and measures growth from there', () => {
    const f = fakeIo();
    startIdleReclaim(f.io, f.clock, 1000, settled(80));
    f.state.rss = 100 * MiB;
    f.state.freed = 5 * MiB;
    f.state.freedLate = 12 * MiB;
    f.tick();
    f.tick();
    expect([f.state.releases, f.state.trims, f.state.rss]).toEqual([1, 0, 95 * MiB]);
    f.clock.advance(199);
    expect(f.state.trims).toBe(0);
    f.clock.advance(1);
    expect([f.state.trims, f.state.rss]).toEqual([1, 83 * MiB]);
    // 3 MiB over what the trim left is growth worth a reclaim; over the release's 95 it would not be
    f.state.rss = 86 * MiB;
    for (let i = 0; i < 3; i++) f.tick();
    expect(f.state.releases).toBe(2);
  });

  it('stopping between a release and its trim cancels the trim', () => {
    const f = fakeIo();
    const stop = startIdleReclaim(f.io, f.clock, 1000, settled(80));
    f.state.rss = 95 * MiB;
    f.tick();
    f.tick();
    expect(f.state.releases).toBe(1);
    stop();
    expect(f.clock.pendingTimers).toBe(0);
    f.clock.advance(1000);
    expect(f.state.trims).toBe(0);
  });

  it('says when a release stopped the event loop for 100 ms or more', () => {
    const f = fakeIo();
    startIdleReclaim(f.io, f.clock, 1000, settled(80));
    f.state.rss = 95 * MiB;
    f.state.releaseMs = 250;
    for (let i = 0; i < 3; i++) f.tick();
    expect(f.state.releases).toBe(1);
    expect(f.state.logs).toEqual(['idle reclaim: the release stopped the event loop for 250 ms']);
  });

  it('logs a failed release and does not retry it at every check', () => {
    const f = fakeIo();
    startIdleReclaim(f.io, f.clock, 1000, settled(80));
    f.tick();
    f.state.rss = 95 * MiB;
    f.state.fail = true;
    for (let i = 0; i < 6; i++) f.tick();
    expect(f.state.releases).toBe(1);
    expect(f.state.logs).toEqual(['idle reclaim: no addon']);
  });
});
