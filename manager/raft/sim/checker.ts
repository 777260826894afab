import type { Raft } from '../core/raft.js';
import type { Entry, HardState, Message } from '../core/types.js';

/** What a node's disk holds after its last completed fsync. */
export interface DurableState {
  hardState: HardState;
  lastIndex: number;
  termAt: (i: number) => number | undefined;
}

export interface Violation {
  step: number;
  kind:
    | 'election-safety'
    | 'log-matching'
    | 'leader-completeness'
    | 'state-machine-safety'
    | 'apply-order'
    | 'early-apply'
    | 'durability'
    | 'monotonicity'
    | 'lost-ack'
    | 'liveness'
    | 'exception';
  detail: string;
}

export class ViolationError extends Error {
  constructor(readonly violation: Violation) {
    super(`${violation.kind} at step ${violation.step}: ${violation.detail}`);
  }
}

function entryKey(e: Entry): string {
  return `${e.type}:${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64')}`;
}

/**
 * Raft's safety properties (paper Figure 3), checked incrementally as the simulation runs: every entry enters
 * some log through a Ready, every application happens at one index, every leader appears at one term.
 */
export class SafetyChecker {
  step = 0;
  private leaderOfTerm = new Map<number, number>();
  /** (index, term) → the entry's content and the term before it: the same everywhere by Log Matching. */
  private entries = new Map<string, { key: string; prevTerm: number }>();
  /** index → (term, content) of the entry applied there by anyone: committed. */
  readonly applied = new Map<number, { term: number; key: string }>();
  maxApplied = 0;

  fail(kind: Violation['kind'], detail: string): never {
    throw new ViolationError({ step: this.step, kind, detail });
  }

  /** Called with every node's core after every step. */
  observeRole(id: number, r: Raft, wasLeaderAtTerm: number | undefined): void {
    if (r.role !== 'leader') return;
    const prev = this.leaderOfTerm.get(r.term);
    if (prev !== undefined && prev !== id) {
      this.fail('election-safety', `nodes ${prev} and ${id} are both leaders of term ${r.term}`);
    }
    this.leaderOfTerm.set(r.term, id);
    if (wasLeaderAtTerm !== r.term) this.checkLeaderCompleteness(id, r);
  }

  /** A new leader's log holds every entry committed before (except what it compacted into its snapshot). */
  private checkLeaderCompleteness(id: number, r: Raft): void {
    const log = r.log;
    const first = log.firstIndex();
    if (log.lastIndex() < this.maxApplied) {
      this.fail(
        'leader-completeness',
        `leader ${id} of term ${r.term} has last index ${log.lastIndex()} < committed ${this.maxApplied}`,
      );
    }
    for (let i = first; i <= this.maxApplied; i++) {
      const want = this.applied.get(i);
      if (!want) continue;
      const t = log.term(i);
      if (t !== want.term) {
        this.fail(
          'leader-completeness',
          `leader ${id} of term ${r.term} has term ${t} at ${i}, committed ${want.term}`,
        );
      }
    }
  }

  /** Entries a node is about to write; `termAt` reads its log after the write. */
  observeAppend(id: number, entries: readonly Entry[], termAt: (i: number) => number | undefined): void {
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const prevTerm = termAt(e.index - 1) ?? -1;
      const key = entryKey(e);
      const seen = this.entries.get(k);
      if (!seen) {
        this.entries.set(k, { key, prevTerm });
        continue;
      }
      if (seen.key !== key)
        this.fail('log-matching', `node ${id}: entry ${k} has different content elsewhere`);
      if (seen.prevTerm !== -1 && prevTerm !== -1 && seen.prevTerm !== prevTerm) {
        this.fail(
          'log-matching',
          `node ${id}: entry ${k} follows term ${prevTerm} here, ${seen.prevTerm} elsewhere`,
        );
      }
    }
  }

  observeApply(id: number, e: Entry): void {
    const key = entryKey(e);
    const seen = this.applied.get(e.index);
    if (seen && (seen.term !== e.term || seen.key !== key)) {
      this.fail(
        'state-machine-safety',
        `node ${id} applied term ${e.term} at ${e.index}, another node applied term ${seen.term}`,
      );
    }
    if (!seen) this.applied.set(e.index, { term: e.term, key });
    if (e.index > this.maxApplied) this.maxApplied = e.index;
  }

  /**
   * Votes and acknowledged entries must be on disk before the message that promises them leaves.
   *
   * An acknowledgement of index i at term T promises that the node's log matched term T's leader up to i
   * when it was made. It is honoured when the disk holds i (or commit >= i), and also when the disk has moved
   * past term T: writes are whole Readies in order, and the acknowledgement was made before the node left
   * term T, so such a disk holds a later state of the same node — possibly with the acknowledged entries
   * replaced by a later leader's, which is what Raft allows after any network delay of the acknowledgement.
   * Issue 8's seeds (7000709, 7003575) and sweep seed 3001348 are such batches: an ack for term T and a
   * term T+1 append truncating it (in the written log, or still in memory) left in one Ready.
   */
  checkDurableBeforeSend(id: number, messages: readonly Message[], d: DurableState): void {
    for (const m of messages) {
      if (m.type === 'voteResp' && !m.reject) {
        if (d.hardState.term < m.term || (d.hardState.term === m.term && d.hardState.vote !== m.to)) {
          this.fail(
            'durability',
            `node ${id} granted its term-${m.term} vote to ${m.to} before persisting it`,
          );
        }
      }
      if (m.type === 'appResp' && !m.reject && m.index > 0) {
        if (d.lastIndex >= m.index || d.hardState.commit >= m.index) continue;
        if (d.hardState.term <= m.term) {
          this.fail('durability', `node ${id} acknowledged index ${m.index} with ${d.lastIndex} on disk`);
        }
      }
    }
  }
}
