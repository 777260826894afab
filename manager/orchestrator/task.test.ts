import { describe, expect, it } from 'vitest';
import { TaskSpec } from '../../proto/gen/shoal/swarm/v1/specs.js';
import { sameSpec } from './task.js';

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
