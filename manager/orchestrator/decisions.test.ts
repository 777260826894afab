import { describe, expect, it } from 'vitest';
import { Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { type Decisions, splitDecisions, writeCount } from './decisions.js';

const tasks = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => Task.fromPartial({ id: `${prefix}${i}` }));

describe('splitDecisions', () => {
  it('keeps decisions within the limit as one transaction', () => {
    const d: Decisions = {
      creates: tasks('c', 3),
      updates: tasks('u', 2),
      removes: [],
      removeServices: [],
      wakeAt: 7,
    };
    expect(splitDecisions(d, 5)).toEqual([d]);
  });

  it('cuts larger ones into transactions of at most the limit, in the order they are applied', () => {
    const d: Decisions = {
      creates: tasks('c', 4),
      updates: tasks('u', 3),
      removes: tasks('r', 2),
      removeServices: [Service.fromPartial({ id: 's' })],
      wakeAt: 9,
    };
    const parts = splitDecisions(d, 4);
    expect(parts.map(writeCount)).toEqual([4, 4, 2]);
    const order = parts.flatMap((p) => [
      ...p.updates.map((t) => t.id),
      ...p.removes.map((t) => t.id),
      ...p.creates.map((t) => t.id),
      ...p.removeServices.map((s) => s.id),
    ]);
    expect(order).toEqual(['u0', 'u1', 'u2', 'r0', 'r1', 'c0', 'c1', 'c2', 'c3', 's']);
    expect(parts.every((p) => p.wakeAt === 9)).toBe(true);
  });
});
