import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

const turn = () => new Promise((r) => setImmediate(r));

function recorder(opts: { fail?: (items: readonly (readonly [string, number])[]) => boolean } = {}) {
  const writes: (readonly (readonly [string, number])[])[] = [];
  let release: (() => void) | undefined;
  const gc = new GroupCommit<string, number, string>({
    maxPerWrite: 3,
    merge: (a, b) => a + b,
    write: async (items) => {
      writes.push(items);
      await new Promise<void>((r) => (release = r));
      if (opts.fail?.(items)) throw new Error('write failed');
      return new Map(items.filter(([k]) => k !== 'none').map(([k, v]) => [k, `${k}=${v}`]));
    },
  });
  return { gc, writes, release: () => release?.() };
}

describe('GroupCommit', () => {
  it('one write in flight; what arrives meanwhile goes out as the next, in chunks of maxPerWrite', async () => {
    const { gc, writes, release } = recorder();
    const a = gc.add('a', 1);
    await turn();
    expect(writes).toEqual([[['a', 1]]]);
    const rest = ['b', 'c', 'd', 'e', 'none'].map((k) => gc.add(k, 1));
    const b2 = gc.add('b', 5); // merged with the queued b
    await turn();
    expect(writes).toHaveLength(1); // still waiting for the first
    release();
    expect(await a).toBe('a=1');
    await turn();
    await turn();
    expect(writes.slice(1)).toEqual([
      [
        ['b', 6],
        ['c', 1],
        ['d', 1],
      ],
      [
        ['e', 1],
        ['none', 1],
      ],
    ]);
    release(); // both chunks of the second write were proposed together; release resolves the last one
    await turn();
    expect(writes).toHaveLength(3);
  });

  it('a failed write fails its keys only; close fails what is queued and what comes later', async () => {
    const { gc, writes, release } = recorder({ fail: (items) => items.some(([k]) => k === 'bad') });
    const bad = gc.add('bad', 1);
    await turn();
    const queued = gc.add('q', 1);
    release();
    await expect(bad).rejects.toThrow('write failed');
    await turn();
    expect(writes[1]).toEqual([['q', 1]]);
    const later = gc.add('x', 1);
    gc.close(new Error('stopped'));
    await expect(later).rejects.toThrow('stopped');
    await expect(gc.add('y', 1)).rejects.toThrow('stopped');
    release();
    expect(await queued).toBe('q=1');
  });
});
