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

  it('passes an acknowledged index that is on disk or committed', () => {
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(8, 383), undefined))).toBeUndefined();
    expect(
      kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(8, 300, 383), undefined)),
    ).toBeUndefined();
  });

  it('reports an acknowledged index missing from the disk', () => {
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(8, 381), undefined))).toBe(
      'durability',
    );
    // A later term alone does not excuse it: the entries must have been replaced by a later leader's.
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(9, 381), undefined))).toBe(
      'durability',
    );
    // Nor does an overwrite above the acknowledged index.
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(9, 381), 384))).toBe('durability');
    // Nor an overwrite at the same term (that would be a leader contradicting itself).
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(9, 383)], disk(9, 381), 381))).toBe('durability');
  });

  it('passes an acknowledgement whose entries the same write replaced with a later leader’s (seed 7003575)', () => {
    expect(kindOf(() => c.checkDurableBeforeSend(1, [ack(8, 383)], disk(9, 381), 381))).toBeUndefined();
  });

  it('reports a granted vote that is not on disk', () => {
    const vote = newMessage({ type: 'voteResp', to: 4, from: 1, term: 9 });
    expect(kindOf(() => c.checkDurableBeforeSend(1, [vote], disk(8, 10), undefined))).toBe('durability');
    const d = disk(9, 10);
    d.hardState.vote = 4;
    expect(kindOf(() => c.checkDurableBeforeSend(1, [vote], d, undefined))).toBeUndefined();
  });
});
