import { describe, expect, it } from 'vitest';
import { barrierWhileLeading, type LeadershipEvent, type ReplicatedLog } from './replicated.js';

/** A log whose read barriers fail `failures` times, then pass; leadership set by the test. */
function fakeLog(failures: number) {
  let lead: LeadershipEvent = { isLeader: true, term: 3, leaderId: 1 };
  let asked = 0;
  const log: Pick<ReplicatedLog, 'leadership' | 'readBarrier'> = {
    leadership: () => lead,
    readBarrier: async () => {
      asked++;
      if (asked <= failures) throw new Error(`read index not confirmed (${asked})`);
      return 7;
    },
  };
  return {
    log,
    asked: () => asked,
    set: (e: LeadershipEvent) => {
      lead = e;
    },
  };
}

const noWait = () => Promise.resolve();

describe('barrierWhileLeading', () => {
  it('asks again after a failed barrier while it leads the term, and reports each failure', async () => {
    const f = fakeLog(3);
    const errors: string[] = [];
    expect(
      await barrierWhileLeading(f.log, 3, {
        onError: (e) => errors.push((e as Error).message),
        wait: noWait,
      }),
    ).toBe(true);
    expect(f.asked()).toBe(4);
    expect(errors).toEqual([1, 2, 3].map((n) => `read index not confirmed (${n})`));
  });

  it('gives up (false) once the member no longer leads that term, without asking again', async () => {
    const f = fakeLog(100);
    let waits = 0;
    const wait = async () => {
      if (++waits === 2) f.set({ isLeader: true, term: 4, leaderId: 1 });
    };
    expect(await barrierWhileLeading(f.log, 3, { wait })).toBe(false);
    expect(f.asked()).toBe(2);
    f.set({ isLeader: false, term: 4, leaderId: 2 });
    expect(await barrierWhileLeading(f.log, 4, { wait: noWait })).toBe(false);
    expect(f.asked()).toBe(2);
  });

  it('a barrier that passes after leadership moved on does not count', async () => {
    const f = fakeLog(0);
    const log = {
      ...f.log,
      readBarrier: async () => {
        f.set({ isLeader: false, term: 3, leaderId: 2 });
        return 1;
      },
    };
    expect(await barrierWhileLeading(log, 3, { wait: noWait })).toBe(false);
  });

  it('stops asking once the caller cancels (it stopped), though the member still leads', async () => {
    const f = fakeLog(100);
    let cancelled = false;
    const wait = async () => {
      cancelled = true;
    };
    expect(await barrierWhileLeading(f.log, 3, { wait, cancelled: () => cancelled })).toBe(false);
    expect(f.asked()).toBe(1);
  });
});
