import { describe, expect, it } from 'vitest';
import { newMessage } from '../../manager/raft/core/raft.js';
import { type DurableState, SafetyChecker, ViolationError } from '../../manager/raft/sim/checker.js';

function disk(term: number, lastIndex: number, commit = 0): DurableState {
  return { hardState: { term, vote: 0, commit }, lastIndex, termAt: () => undefined };
}

const ack = (term: number, index: number) => newMessage({ type: 'appResp', to: 3, from: 1, term, index });

function kindOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof ViolationError) return err.violation.kind;
    throw err;
  }
}

describe('durability check of acknowledgements', () => {
  const c = new SafetyChecker();
  const check = (m: ReturnType<typeof ack>, d: DurableState) =>
    kindOf(() => c.checkDurableBeforeSend(1, [m], d));

  it('passes an acknowledged index that is on disk or committed', () => {
    expect(check(ack(8, 383), disk(8, 383))).toBeUndefined();
    expect(check(ack(8, 383), disk(8, 300, 383))).toBeUndefined();
  });

  it('reports an acknowledged index missing from a disk still at the acknowledgement term or before', () => {
    expect(check(ack(8, 383), disk(8, 381))).toBe('durability');
    expect(check(ack(8, 383), disk(7, 381))).toBe('durability'); // e.g. sent before the write that moved to 8
  });

  it('passes it once the disk moved past that term: the same write replaced those entries (seeds 7003575, 3001348)', () => {
    expect(check(ack(8, 383), disk(9, 381))).toBeUndefined();
  });

  it('reports a granted vote that is not on disk', () => {
    const vote = newMessage({ type: 'voteResp', to: 4, from: 1, term: 9 });
    expect(kindOf(() => c.checkDurableBeforeSend(1, [vote], disk(8, 10)))).toBe('durability');
    const d = disk(9, 10);
    d.hardState.vote = 4;
    expect(kindOf(() => c.checkDurableBeforeSend(1, [vote], d))).toBeUndefined();
  });
});
