// The production Ready loop (RaftDriver) driven deterministically: a fake clock fires the tick timers, a
// manual scheduler runs deferred work, storage completes fsyncs when the test says so. No sleeps.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../manager/raft/core/storage.js';
import { InstantStorage } from '../../manager/raft/core/testkit.js';
import type { Entry, Message } from '../../manager/raft/core/types.js';
import { type Application, type LogWrite, RaftDriver } from '../../manager/raft/node/driver.js';
import { mulberry32 } from '../../manager/raft/sim/prng.js';
import { FakeClock, ManualScheduler } from './fake-time.js';

/** In-memory storage whose writes the test can hold (a stalled fsync) or fail. */
class ControlledStorage extends InstantStorage {
  hold = false;
  failNext = false;
  private held: [LogWrite, (err: Error | null) => void][] = [];
  override write(w: LogWrite, done: (err: Error | null) => void): void {
    if (this.failNext) {
      this.failNext = false;
      done(new Error('disk full'));
      return;
    }
    if (this.hold) this.held.push([w, done]);
    else super.write(w, done);
  }
  release(): void {
    this.hold = false;
    for (const [w, done] of this.held.splice(0)) super.write(w, done);
  }
  get stalled(): number {
    return this.held.length;
  }
}

const TICK = 10;

function cluster(
  ids: number[],
  failFirstWrite: number[] = [],
  o: { app?: (id: number) => Application; snapshotEvery?: number } = {},
) {
  const sched = new ManualScheduler();
  const clock = new FakeClock(sched);
  const inbox: Message[] = [];
  const members = new Map<
    number,
    { driver: RaftDriver; storage: ControlledStorage; applied: Entry[]; faults: Error[]; events: string[] }
  >();
  for (const id of ids) {
    const storage = new ControlledStorage(new MemoryStorage());
    const m = { storage, applied: [] as Entry[], faults: [] as Error[], events: [] as string[] };
    const driver = new RaftDriver({
      id,
      storage,
      transport: {
        send: (ms) => {
          inbox.push(...ms);
          // Delivery is deferred like a socket's: after the sender's current turn.
          sched.defer(deliver);
        },
      },
      clock,
      scheduler: sched,
      app: o.app?.(id) ?? { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => {} },
      raft: {
        electionTick: 10,
        heartbeatTick: 1,
        preVote: true,
        checkQuorum: true,
        maxSizePerMsg: 1 << 20,
        maxInflightMsgs: 64,
        maxUncommittedEntriesSize: 0,
        random: mulberry32(id),
      },
      snapshotEvery: o.snapshotEvery ?? 1000,
      keepEntries: 10,
      hooks: {
        applied: (e) => m.applied.push(e),
        storageFault: (err) => m.faults.push(err),
        storageRecovered: () => m.events.push('recovered'),
      },
    });
    if (failFirstWrite.includes(id)) storage.failNext = true;
    driver.bootstrap(ids);
    driver.startTicking(TICK);
    members.set(id, { driver, ...m });
  }
  function deliver() {
    for (const msg of inbox.splice(0)) members.get(msg.to)?.driver.step(msg);
  }
  sched.run();
  const leader = () => [...members.values()].find((m) => m.driver.core.status().role === 'leader');
  return { sched, clock, members, leader };
}

const data = (s: string) => new TextEncoder().encode(s);

describe('RaftDriver, deterministic', () => {
  it('elects a leader and commits proposals on fake time', () => {
    const c = cluster([1, 2, 3]);
    c.clock.advance(TICK * 40);
    const l = c.leader();
    expect(l).toBeDefined();
    const t = l!.driver.propose(data('a'));
    c.sched.run();
    for (const m of c.members.values()) {
      expect(m.applied.some((e) => e.index === t!.index && e.term === t!.term)).toBe(true);
    }
  });

  it('a stalled fsync on the leader neither stops its heartbeats nor its appends', () => {
    const c = cluster([1, 2, 3]);
    c.clock.advance(TICK * 40);
    const l = c.leader()!;
    const term = l.driver.core.status().term;
    l.storage.hold = true;
    const t = l.driver.propose(data('during-stall'))!;
    // Three election timeouts pass while the leader's write hangs: heartbeats left early, nobody campaigned.
    c.clock.advance(TICK * 60);
    expect(l.storage.stalled).toBe(1);
    for (const m of c.members.values()) expect(m.driver.core.status().term).toBe(term);
    expect(l.driver.core.status().role).toBe('leader');
    // The appends went out before the leader's own write: both followers hold and acknowledged the entry,
    // so it is committed (a quorum without the leader) — but the leader applies only once its write lands.
    for (const [id, m] of c.members) if (m !== l) expect(m.storage.lastIndex(), `member ${id}`).toBe(t.index);
    expect(l.driver.core.status().commit).toBe(t.index);
    expect(l.applied.some((e) => e.index === t.index)).toBe(false);
    l.storage.release();
    c.sched.run();
    expect(l.applied.some((e) => e.index === t.index)).toBe(true);
    expect(l.driver.stats.earlyMessages).toBeGreaterThan(0);
  });

  it('a failed write rebuilds the core from the disk, reports it, and clears once a write succeeds', () => {
    const c = cluster([1, 2, 3]);
    c.clock.advance(TICK * 40);
    const l = c.leader()!;
    const durable = l.storage.lastIndex();
    l.storage.failNext = true;
    l.driver.propose(data('lost'));
    c.sched.run();
    expect(l.faults.map((e) => e.message)).toEqual(['disk full']);
    expect(l.driver.storageFault?.message).toBe('disk full');
    // The rebuilt core knows only what is durable, and this member is no longer leading.
    expect(l.driver.core.status().role).toBe('follower');
    expect(l.storage.lastIndex()).toBe(durable);
    c.clock.advance(TICK * 60);
    const again = c.leader()!;
    again.driver.propose(data('next'));
    c.sched.run();
    c.clock.advance(TICK * 5);
    expect(l.driver.storageFault).toBeNull();
    expect(l.events).toContain('recovered');
    // No member applied the failed entry as committed with different content than the others.
    const at = (m: { applied: Entry[] }) => new Map(m.applied.map((e) => [e.index, `${e.term}`]));
    const ref = at(again);
    for (const m of c.members.values()) for (const [i, term] of at(m)) expect(ref.get(i) ?? term).toBe(term);
  });

  it('a failed bootstrap write is bootstrapped again, not learnt entry by entry from the leader', () => {
    const c = cluster([1, 2, 3], [1]);
    const one = c.members.get(1)!;
    expect(one.faults.map((e) => e.message)).toEqual(['disk full']);
    // The rebuilt core knows the founding configuration (else, holding only "addVoter 1", it would elect itself).
    expect(one.driver.core.confState().voters).toEqual([1, 2, 3]);
    c.clock.advance(TICK * 60);
    expect(one.storage.lastIndex()).toBeGreaterThanOrEqual(3);
    const l = c.leader()!;
    expect(l.driver.core.status().progress[1]?.match).toBe(l.driver.core.status().lastIndex);
  });
});

describe('RaftDriver snapshots made later (Application.snapshotLater)', () => {
  it('captures at the applied index, saves once the bytes are ready, and starts no second one meanwhile', async () => {
    const calls: { at: number; resolve: (b: Uint8Array) => void }[] = [];
    let driver: RaftDriver | undefined;
    const c = cluster([1], [], {
      snapshotEvery: 5,
      app: () => ({
        apply: () => undefined,
        snapshot: () => {
          throw new Error('snapshotLater is used instead');
        },
        snapshotLater: () =>
          new Promise<Uint8Array>((resolve) => calls.push({ at: driver?.applied ?? -1, resolve })),
        restore: () => {},
      }),
    });
    const m = c.members.get(1)!;
    driver = m.driver;
    c.clock.advance(TICK * 40);
    expect(m.driver.core.status().role).toBe('leader');
    for (let i = 0; i < 6; i++) {
      m.driver.propose(data(`a${i}`));
      c.sched.run();
    }
    expect(calls).toHaveLength(1);
    expect(calls[0].at).toBeGreaterThanOrEqual(5);
    expect(m.driver.snapshotIndex).toBe(0);
    // More entries while the bytes are being made: no second capture, nothing saved.
    for (let i = 0; i < 8; i++) {
      m.driver.propose(data(`b${i}`));
      c.sched.run();
    }
    expect(calls).toHaveLength(1);
    expect(m.driver.snapshotIndex).toBe(0);
    calls[0].resolve(new TextEncoder().encode(`state@${calls[0].at}`));
    await new Promise((r) => setImmediate(r));
    m.driver.propose(data('c'));
    c.sched.run();
    // Saved at the index it was captured at, with its bytes; the next capture follows.
    expect(m.driver.snapshotIndex).toBe(calls[0].at);
    expect(m.storage.snapshot().metadata.index).toBe(calls[0].at);
    expect(new TextDecoder().decode(m.storage.snapshot().data)).toBe(`state@${calls[0].at}`);
    m.driver.propose(data('d'));
    c.sched.run();
    expect(calls).toHaveLength(2);
    expect(calls[1].at).toBeGreaterThan(calls[0].at);
  });
});
