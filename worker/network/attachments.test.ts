import { describe, expect, it } from 'vitest';
import { ShoalError } from '../../common/errors.js';
import { type OverlayAttacher, OwedDetaches } from './attachments.js';

function attacher(fail: (id: string) => ShoalError | undefined) {
  const detached: string[] = [];
  const a: OverlayAttacher = {
    inSwarm: true,
    attach: async () => {
      throw new Error('not used');
    },
    detach: async (id) => {
      const e = fail(id);
      if (e) throw e;
      detached.push(id);
    },
  };
  return { a, detached };
}

describe('owed detaches', () => {
  it('retries a release the managers could not take until they can; drops one refused for good', async () => {
    let down = true;
    const { a, detached } = attacher((id) =>
      id === 'theirs'
        ? new ShoalError('permission_denied', 'attachment theirs belongs to another node')
        : down
          ? new ShoalError('unavailable', 'no session')
          : undefined,
    );
    const logs: string[] = [];
    const owed = new OwedDetaches(
      () => a,
      (m) => logs.push(m),
      20,
    );
    await owed.detach('theirs');
    expect(owed.size).toBe(0);
    expect(logs.at(-1)).toMatch(/attachment theirs not released/);
    await owed.detach('a1');
    await owed.detach('a2');
    expect(owed.size).toBe(2);
    expect(detached).toEqual([]);
    down = false;
    for (let i = 0; i < 50 && owed.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(owed.size).toBe(0);
    expect(detached.sort()).toEqual(['a1', 'a2']);
    owed.close();
  });

  it('keeps what it owes while the node is in no swarm, and pays when it joins one', async () => {
    const { a, detached } = attacher(() => undefined);
    let current: OverlayAttacher | undefined;
    const owed = new OwedDetaches(
      () => current,
      () => {},
      60_000,
    );
    await owed.detach('x');
    expect(owed.size).toBe(1);
    current = a;
    await owed.flush();
    expect(detached).toEqual(['x']);
    owed.close();
  });
});
