import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RaftLog } from './log.js';
import { MemoryStorage } from './storage.js';
import type { Entry } from './types.js';

const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: 'normal',
  data: new Uint8Array([index & 255, term & 255]),
});

/** A follower's log receiving appends from successive leaders: (prevIndex, entries) with increasing terms. */
const appendOps = fc.array(
  fc.record({ back: fc.nat(6), count: fc.integer({ min: 0, max: 5 }), persist: fc.boolean() }),
  { minLength: 1, maxLength: 40 },
);

describe('RaftLog (property)', () => {
  it('matches a plain array model through appends, conflicts, persistence and compaction', () => {
    fc.assert(
      fc.property(appendOps, fc.nat(3), (ops, compactEvery) => {
        const storage = new MemoryStorage();
        const log = new RaftLog(storage, 0);
        const model: number[] = []; // model[i-1] = term of entry i
        let term = 1;
        ops.forEach((op, step) => {
          term++;
          const prev = Math.max(log.committed, model.length - op.back);
          const ents = Array.from({ length: op.count }, (_, k) => entry(prev + 1 + k, term));
          const prevTerm = prev === 0 ? 0 : model[prev - 1];
          const lastNew = log.maybeAppend(prev, prevTerm, prev + op.count, ents);
          expect(lastNew).toBe(prev + op.count);
          // The model: a real conflict truncates; matching entries are kept.
          for (const e of ents) {
            if (model[e.index - 1] !== e.term) {
              model.length = e.index - 1;
              model.push(e.term);
            }
          }
          expect(log.lastIndex()).toBe(model.length);
          for (let i = log.firstIndex(); i <= model.length; i++) expect(log.term(i)).toBe(model[i - 1]);
          if (op.persist) {
            storage.append(log.unstableEntries());
            const last = log.unstableEntries().at(-1);
            if (last) log.stableTo(last.index, last.term);
            expect(log.unstableEntries()).toEqual([]);
          }
          if (compactEvery > 0 && step % (compactEvery + 2) === 0) {
            const upTo = Math.min(log.committed, log.stableLastIndex());
            if (upTo >= storage.firstIndex()) {
              storage.createSnapshot(upTo, { voters: [1], learners: [] }, new Uint8Array());
              storage.compact(upTo);
            }
          }
          expect(log.lastIndex()).toBe(model.length);
          if (model.length >= log.firstIndex()) {
            const got = log.slice(log.firstIndex(), model.length + 1).map((e) => e.term);
            expect(got).toEqual(model.slice(log.firstIndex() - 1));
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('findConflictByTerm returns the last index at or before a point with a term no newer than asked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        fc.nat(5),
        (deltas, at, t) => {
          const terms: number[] = [];
          let cur = 0;
          for (const d of deltas) {
            cur += d % 2; // non-decreasing terms
            terms.push(cur);
          }
          const storage = new MemoryStorage();
          storage.append(terms.map((tm, i) => entry(i + 1, Math.max(1, tm))));
          const log = new RaftLog(storage, 0);
          const index = (at % terms.length) + 1;
          const [i, ti] = log.findConflictByTerm(index, t);
          let want = 0;
          for (let k = index; k >= 1; k--) {
            if (Math.max(1, terms[k - 1]) <= t) {
              want = k;
              break;
            }
          }
          expect(i).toBe(want);
          expect(ti).toBe(want === 0 ? 0 : Math.max(1, terms[want - 1]));
        },
      ),
      { numRuns: 300 },
    );
  });
});
