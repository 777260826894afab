import { describe, expect, it } from 'vitest';
import type { Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { byAge, sameSpec } from './task.js';

describe('sameSpec', () => {
  const base = TaskSpec.fromPartial({ containerSpec: { image: 'busybox', args: ['sleep', '9'] } });

  it('takes empty messages and empty lists for absent ones (a spec sent back through the API)', () => {
    const roundTripped = TaskSpec.fromPartial({
      containerSpec: { image: 'busybox', args: ['sleep', '9'], dnsConfig: {}, env: [] },
      resources: { limits: {}, reservations: {} },
      placement: {},
      networks: [],
    });
    expect(sameSpec(base, roundTripped)).toBe(true);
  });

  it('still sees every real difference, nested ones included', () => {
    const changed = (more: {
      resources?: { limits?: { memoryBytes?: number } };
      placement?: { constraints?: string[] };
    }) => TaskSpec.fromPartial({ containerSpec: { image: 'busybox', args: ['sleep', '9'] }, ...more });
    expect(
      sameSpec(base, TaskSpec.fromPartial({ containerSpec: { image: 'busybox', args: ['sleep', '8'] } })),
    ).toBe(false);
    expect(sameSpec(base, changed({ resources: { limits: { memoryBytes: 1 } } }))).toBe(false);
    expect(sameSpec(base, changed({ placement: { constraints: ['x==y'] } }))).toBe(false);
    expect(sameSpec(base, changed({}))).toBe(true);
  });
});

describe('byAge', () => {
  const task = (id: string, createdAt: number, serviceVersion: number, version: number) =>
    ({ id, serviceVersion, meta: { createdAt, updatedAt: createdAt, version } }) as Task;

  it('puts a replacement made in the same millisecond after the task it replaces', () => {
    // the old task was written again later (desired SHUTDOWN): its store version is the higher one
    const old = task('o3', 1000, 2, 50);
    const replacement = task('o13', 1000, 5, 40);
    expect([replacement, old].sort(byAge).map((t) => t.id)).toEqual(['o3', 'o13']);
    // creation time first; the same service version falls back to the store version, then the id
    expect([task('b', 999, 9, 9), old].sort(byAge)[0].id).toBe('b');
    expect([task('x', 1000, 2, 60), old].sort(byAge).map((t) => t.id)).toEqual(['o3', 'x']);
    expect([task('b', 1000, 2, 50), task('a', 1000, 2, 50)].sort(byAge)[0].id).toBe('a');
  });
});
