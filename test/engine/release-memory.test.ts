// The addon's releaseMemory (V8's low-memory collections, then malloc_trim) through worker/engine, in
// this process: garbage a busy spell left behind leaves the resident set, live data stays.
import { describe, expect, it } from 'vitest';
import { releaseMemory } from '../../worker/engine/index.js';

const MiB = 2 ** 20;

describe('releaseMemory', () => {
  it('gives back what a busy spell left behind and keeps what is live', () => {
    releaseMemory(); // start from a collected heap
    const live = Array.from({ length: 1000 }, (_, i) => ({ i, s: `live-${i}` }));
    let garbage: unknown[] | null = [];
    for (let i = 0; i < 300_000; i++) garbage.push({ i, s: `garbage-${i}`.repeat(4) });
    // Many mid-size blocks: below glibc's mmap threshold, they come from its arenas.
    let blocks: Buffer[] | null = Array.from({ length: 1500 }, () => Buffer.alloc(24 * 1024, 1));
    const busy = process.memoryUsage.rss();
    garbage = null;
    blocks = null;
    expect(typeof releaseMemory()).toBe('boolean');
    const after = process.memoryUsage.rss();
    expect((busy - after) / MiB).toBeGreaterThan(30);
    expect(live[999].s).toBe('live-999');
    expect(garbage ?? blocks).toBeNull();
  });
});
