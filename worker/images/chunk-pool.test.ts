import { expect, it } from 'vitest';
import { ChunkPool, drop, hold } from './chunk-pool.js';

it('a buffer comes back when its last holder lets go, and releaseIdle lets go of the idle ones at once', () => {
  const pool = new ChunkPool(4096, { keep: 8, idleMs: 600_000 });
  const a = pool.take();
  const b = pool.take();
  hold(a); // a second holder
  drop(a);
  expect(pool.idle).toBe(0);
  drop(a);
  drop(b.subarray(10)); // a view lets go of its buffer
  expect([pool.idle, pool.allocated]).toEqual([2, 2]);
  expect(pool.take().buffer).toBe(b.buffer); // reused, last in first out
  pool.releaseIdle();
  expect(pool.idle).toBe(0);
  pool.take();
  expect(pool.allocated).toBe(3);
});
