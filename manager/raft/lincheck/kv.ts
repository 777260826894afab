import type { Model, Operation } from './checker.js';

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'append'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; expect: string | null; value: string };

/** get → the value (null if absent); cas → whether it swapped; put/append → null. */
export type KvOutput = string | null | boolean;

type KvOp = Operation<KvInput, KvOutput>;

/** A key-value store with one register per key; keys are independent, so histories split per key. */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(s, input, output) {
    switch (input.op) {
      case 'put':
        return [true, input.value];
      case 'append':
        return [true, (s ?? '') + input.value];
      case 'get':
        return [output === undefined || output === s, s];
      case 'cas': {
        const swaps = s === input.expect;
        if (output === undefined) return [true, swaps ? input.value : s];
        return [output === swaps, swaps ? input.value : s];
      }
    }
  },
  key: (s) => (s === null ? '\u0000' : `=${s}`),
  partition(ops: KvOp[]): KvOp[][] {
    const byKey = new Map<string, KvOp[]>();
    for (const o of ops) {
      const list = byKey.get(o.input.key);
      if (list) list.push(o);
      else byKey.set(o.input.key, [o]);
    }
    return [...byKey.values()];
  },
};
