import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkOperations, type Operation } from './checker.js';
import { type KvInput, type KvOutput, kvModel } from './kv.js';

type Op = Operation<KvInput, KvOutput>;
const op = (
  clientId: number,
  call: number,
  ret: number,
  input: KvInput,
  output: KvOutput | undefined,
): Op => ({
  clientId,
  call,
  return: ret,
  input,
  output,
});
const put = (v: string, key = 'x'): KvInput => ({ op: 'put', key, value: v });
const get = (key = 'x'): KvInput => ({ op: 'get', key });

describe('linearizability checker (hand-made histories)', () => {
  it('accepts a read concurrent with a write returning either value', () => {
    const base = [op(0, 0, 10, put('a'), null), op(1, 5, 20, put('b'), null)];
    expect(checkOperations(kvModel, [...base, op(2, 12, 15, get(), 'a')]).linearizable).toBe(true);
    expect(checkOperations(kvModel, [...base, op(2, 12, 15, get(), 'b')]).linearizable).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const h = [op(0, 0, 1, put('a'), null), op(0, 2, 3, put('b'), null), op(1, 4, 5, get(), 'a')];
    expect(checkOperations(kvModel, h).linearizable).toBe(false);
  });

  it('rejects reads that go back in time (new value then old value)', () => {
    const h = [
      op(0, 0, 100, put('b'), null),
      op(1, 1, 2, get(), 'b'),
      op(2, 3, 4, get(), null), // after someone already saw b
    ];
    expect(checkOperations(kvModel, h).linearizable).toBe(false);
  });

  it('treats an unanswered write as possibly applied at any later point, or never', () => {
    const lost = op(0, 0, Number.POSITIVE_INFINITY, put('a'), undefined);
    expect(checkOperations(kvModel, [lost, op(1, 5, 6, get(), 'a')]).linearizable).toBe(true);
    expect(checkOperations(kvModel, [lost, op(1, 5, 6, get(), null)]).linearizable).toBe(true);
    // But it cannot be seen and then unseen.
    const h = [lost, op(1, 5, 6, get(), 'a'), op(1, 7, 8, get(), null)];
    expect(checkOperations(kvModel, h).linearizable).toBe(false);
  });

  it('checks cas and append semantics', () => {
    const ok = [
      op(0, 0, 1, { op: 'append', key: 'k', value: 'a' }, null),
      op(1, 2, 5, { op: 'cas', key: 'k', expect: 'a', value: 'z' }, true),
      op(2, 3, 6, { op: 'cas', key: 'k', expect: 'a', value: 'y' }, false),
      op(0, 7, 8, get('k'), 'z'),
    ];
    expect(checkOperations(kvModel, ok).linearizable).toBe(true);
    const bothWon = [ok[0], ok[1], { ...ok[2], output: true }];
    expect(checkOperations(kvModel, bothWon).linearizable).toBe(false);
  });

  it('checks keys independently and names the failing sub-history', () => {
    const h = [
      op(0, 0, 1, put('1', 'a'), null),
      op(0, 2, 3, put('2', 'b'), null),
      op(1, 4, 5, get('b'), null), // stale on key b
      op(1, 6, 7, get('a'), '1'),
    ];
    const r = checkOperations(kvModel, h);
    expect(r).toEqual({ linearizable: false, ops: [1, 2] });
  });

  it('rejects malformed histories with the offending index', () => {
    expect(() => checkOperations(kvModel, [op(0, 5, 1, get(), null)])).toThrow(/history\[0\]/);
  });
});

/** A history produced by an atomic register: each op takes effect at a random point inside its interval. */
const atomicHistory = fc
  .array(
    fc.record({
      client: fc.integer({ min: 0, max: 3 }),
      start: fc.integer({ min: 0, max: 60 }),
      len: fc.integer({ min: 0, max: 20 }),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      isWrite: fc.boolean(),
      value: fc.constantFrom('a', 'b', 'c', 'd'),
    }),
    { minLength: 1, maxLength: 14 },
  )
  .map((specs) => {
    const ops = specs.map((s, i) => ({
      ...s,
      i,
      call: s.start,
      ret: s.start + s.len,
      point: s.start + s.len * s.at + i * 1e-6,
    }));
    let reg: string | null = null;
    const out: Op[] = [];
    for (const o of [...ops].sort((a, b) => a.point - b.point)) {
      if (o.isWrite) {
        reg = o.value;
        out.push(op(o.client, o.call, o.ret, put(o.value), null));
      } else out.push(op(o.client, o.call, o.ret, get(), reg));
    }
    return out;
  });

describe('linearizability checker (properties)', () => {
  it('accepts every history of a truly atomic register', () => {
    fc.assert(
      fc.property(atomicHistory, (h) => {
        expect(checkOperations(kvModel, h).linearizable).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a history where a read returns a value never written', () => {
    fc.assert(
      fc.property(atomicHistory, fc.nat(), (h, pick) => {
        const reads = h.filter((o) => o.input.op === 'get');
        fc.pre(reads.length > 0);
        const bad = reads[pick % reads.length];
        const mutated = h.map((o) => (o === bad ? { ...o, output: 'never-written' } : o));
        expect(checkOperations(kvModel, mutated).linearizable).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a sequential history with a read of an overwritten value', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 2, maxLength: 10 }), (values) => {
        fc.pre(values.at(-1) !== values.at(-2));
        const h = values.map((v, i) => op(0, i * 2, i * 2 + 1, put(v), null));
        h.push(op(1, 100, 101, get(), values.at(-2)!));
        expect(checkOperations(kvModel, h).linearizable).toBe(false);
      }),
      { numRuns: 100 },
    );
  });
});
