// An in-memory ReplicatedLog for tests of the store and of what sits on it (orchestrator, scheduler, ...):
// one shared log, one or more members applying every entry in order, no consensus. It can apply at once
// ('sync'), on a later turn of the event loop ('async'), or only when told ('manual'); move or lose the
// leadership; fail or drop a proposal; and append entries "from another leader".
import type { Applied, LeadershipEvent, ReplicatedLog, StateMachine } from '../raft/replicated.js';

export type ApplyMode = 'sync' | 'async' | 'manual';

export type MemLogFailure = 'not_leader' | 'dropped' | 'outcome_unknown' | 'injected';

/** How a proposal to a MemoryLog failed (the raft node's errors are other classes; the store wraps any). */
export class MemLogError extends Error {
  override name = 'MemLogError';
  constructor(
    readonly reason: MemLogFailure,
    message: string,
  ) {
    super(message);
  }
}

interface Member {
  sm: StateMachine;
  applied: number;
  listeners: Set<(e: LeadershipEvent) => void>;
}

interface Waiter {
  member: number;
  resolve: (a: Applied<unknown>) => void;
  reject: (e: unknown) => void;
}

export class MemoryLog {
  private entries: Uint8Array[] = [];
  private readonly members: Member[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private readonly failures: MemLogError[] = [];
  private barrierFailures = 0;
  private leader: number | undefined = 0;
  private term = 1;
  private scheduled = false;

  constructor(readonly mode: ApplyMode = 'sync') {}

  /** Adds a member; it starts from a snapshot of member 0 (if any) and applies everything after it. */
  addMember(sm: StateMachine): ReplicatedLog<unknown> {
    const m: Member = { sm, applied: 0, listeners: new Set() };
    const first = this.members[0];
    if (first && first.applied > 0) {
      sm.restore(first.sm.snapshot());
      m.applied = first.applied;
    }
    this.members.push(m);
    const i = this.members.length - 1;
    if (this.mode === 'sync') this.flush();
    return this.face(i);
  }

  /** Index of the last entry in the log. */
  get lastIndex(): number {
    return this.entries.length;
  }

  appliedIndex(member = 0): number {
    return this.member(member).applied;
  }

  /** The next proposal (to any member) fails with `reason` and appends nothing. */
  failNextProposal(reason: MemLogFailure = 'injected'): void {
    this.failures.push(new MemLogError(reason, `proposal failed (${reason}, injected by the test)`));
  }

  /** The next `n` read barriers (of any member) fail, as a ReadIndex that timed out on a loaded machine. */
  failNextReadBarriers(n: number): void {
    this.barrierFailures += n;
  }

  /**
   * Makes `member` the leader (undefined: no leader). Proposals still waiting for apply lose their waiters
   * (rejected outcome_unknown: their entries stay in the log and apply later), or with `dropPending` are
   * removed from the log unapplied (rejected dropped), as when a new leader overwrites them.
   */
  setLeader(member: number | undefined, options: { dropPending?: boolean } = {}): void {
    if (member !== undefined) this.member(member);
    const minApplied = Math.min(...this.members.map((m) => m.applied));
    if (options.dropPending) {
      for (const [index, w] of this.waiters) {
        if (index > minApplied) {
          this.waiters.delete(index);
          w.reject(new MemLogError('dropped', `entry ${index} was dropped by a leadership change`));
        }
      }
      this.entries = this.entries.slice(0, minApplied);
    } else {
      for (const [index, w] of this.waiters) {
        this.waiters.delete(index);
        w.reject(new MemLogError('outcome_unknown', `leadership changed before entry ${index} applied`));
      }
    }
    this.leader = member;
    this.term++;
    this.members.forEach((m, i) => {
      const e = this.leadershipOf(i);
      for (const fn of m.listeners) fn(e);
    });
  }

  /** Appends an entry as if another member had proposed it; returns its index. */
  append(data: Uint8Array): number {
    this.entries.push(data);
    this.schedule();
    return this.entries.length;
  }

  /** Applies every entry not yet applied, on every member, in log order. */
  flush(): void {
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i];
      while (m.applied < this.entries.length) {
        const index = m.applied + 1;
        const w = this.waiters.get(index);
        let result: unknown;
        try {
          result = m.sm.apply(this.entries[index - 1], index);
        } catch (err) {
          m.applied = index;
          if (w?.member === i) {
            this.waiters.delete(index);
            w.reject(err);
          }
          continue;
        }
        m.applied = index;
        if (w?.member === i) {
          this.waiters.delete(index);
          w.resolve({ index, result });
        }
      }
    }
  }

  /** The ReplicatedLog face of one member. */
  face(member: number): ReplicatedLog<unknown> {
    const m = this.member(member);
    return {
      propose: (data) => this.propose(member, data),
      readBarrier: () => {
        if (this.leader !== member) return Promise.reject(new MemLogError('not_leader', 'not the leader'));
        if (this.barrierFailures > 0) {
          this.barrierFailures--;
          return Promise.reject(
            new MemLogError('injected', 'read index not confirmed (injected by the test)'),
          );
        }
        if (this.mode === 'sync') this.flush();
        return Promise.resolve(m.applied);
      },
      leadership: () => this.leadershipOf(member),
      onLeadershipChange: (fn) => {
        m.listeners.add(fn);
        return () => m.listeners.delete(fn);
      },
    };
  }

  private propose(member: number, data: Uint8Array): Promise<Applied<unknown>> {
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    if (this.leader !== member) {
      return Promise.reject(new MemLogError('not_leader', `member ${member} is not the leader`));
    }
    const promise = new Promise<Applied<unknown>>((resolve, reject) => {
      this.entries.push(data);
      this.waiters.set(this.entries.length, { member, resolve, reject });
    });
    this.schedule();
    return promise;
  }

  private schedule(): void {
    if (this.mode === 'sync') this.flush();
    else if (this.mode === 'async' && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  private leadershipOf(member: number): LeadershipEvent {
    return {
      isLeader: this.leader === member,
      term: this.term,
      leaderId: this.leader === undefined ? 0 : this.leader + 1,
    };
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (!m) throw new RangeError(`no member ${i} (there are ${this.members.length})`);
    return m;
  }
}
