import { encodeConfChange } from './confchange.js';
import { Raft } from './raft.js';
import type {
  ConfChange,
  Config,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ProposalTicket,
  Ready,
  SoftState,
  Status,
} from './types.js';
import { NONE, RaftError } from './types.js';

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** What the outstanding Ready handed out, so advance() can acknowledge exactly that. */
interface Accepted {
  lastEntry?: { index: number; term: number };
  snapshotIndex?: number;
  committed: Entry[];
}

/**
 * The driver-facing API (etcd's RawNode): feed it ticks, messages and proposals; take Ready batches out.
 * At most one Ready is outstanding: hasReady() is false until advance() acknowledges the previous one.
 */
export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding?: Accepted;

  constructor(cfg: Config) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  /**
   * Starts a brand-new cluster: the initial voters become committed conf-change entries 1..n, so members that
   * join later learn the initial configuration from the log like any other change.
   */
  bootstrap(voters: NodeId[]): void {
    if (voters.length === 0) throw new RaftError('bootstrap: voters must not be empty');
    if (new Set(voters).size !== voters.length) throw new RaftError('bootstrap: voters contains duplicates');
    const log = this.raft.log;
    if (log.lastIndex() !== 0 || this.raft.term !== 0) {
      throw new RaftError('bootstrap: storage is not empty (this node already has state)');
    }
    const ents: Entry[] = voters.map((nodeId, i) => ({
      term: 1,
      index: i + 1,
      type: 'confChange',
      data: encodeConfChange({ type: 'addVoter', nodeId, context: new Uint8Array(0) }),
    }));
    log.append(ents);
    this.raft.becomeFollower(1, NONE);
    log.commitTo(ents.length);
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (skipping the timeout). */
  campaign(): void {
    this.raft.hup(false);
  }

  step(m: Message): void {
    if (m.type === 'prop' && m.to === this.raft.id && m.from === this.raft.id) {
      throw new RaftError('step: local proposals go through propose()');
    }
    this.raft.step(m);
  }

  propose(data: Uint8Array): ProposalTicket | undefined {
    return this.raft.propose([{ term: 0, index: 0, type: 'normal', data }]);
  }

  proposeConfChange(cc: ConfChange): ProposalTicket | undefined {
    return this.raft.propose([{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) }]);
  }

  readIndex(ctx: Uint8Array): void {
    this.raft.readIndex(ctx);
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  status(): Status {
    return this.raft.status(this.raft.log.applied);
  }

  confState(): ConfState {
    return this.raft.confState();
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    if (r.bcastPending) return true;
    if (!sameSoft(r.softState(), this.prevSoft)) return true;
    if (!sameHardState(r.hardState(), this.prevHard)) return true;
    if (r.log.unstable.snapshot) return true;
    if (r.log.unstableEntries().length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEnts();
  }

  ready(): Ready {
    if (this.outstanding) throw new RaftError('ready: the previous Ready was not advanced');
    const r = this.raft;
    r.flushProposals();
    const entries = r.log.unstableEntries().slice();
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.nextCommittedEnts(0);
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      entries,
      snapshot,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hard.term !== this.prevHard.term ||
        hard.vote !== this.prevHard.vote,
    };
    if (!sameSoft(soft, this.prevSoft)) {
      rd.softState = soft;
      this.prevSoft = soft;
    }
    if (!sameHardState(hard, this.prevHard)) {
      rd.hardState = hard;
      this.prevHard = hard;
    }
    r.msgs = [];
    r.readStates = [];
    const last = entries[entries.length - 1];
    this.outstanding = {
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.metadata.index,
      committed: committedEntries,
    };
    if (committedEntries.length > 0)
      r.log.acceptApplying(committedEntries[committedEntries.length - 1].index);
    return rd;
  }

  /** The outstanding Ready was persisted, sent and applied. */
  advance(): void {
    const acc = this.outstanding;
    if (!acc) throw new RaftError('advance: no outstanding Ready');
    this.outstanding = undefined;
    const r = this.raft;
    if (acc.snapshotIndex !== undefined) {
      r.log.stableSnapTo(acc.snapshotIndex);
      r.log.appliedTo(acc.snapshotIndex);
    }
    if (acc.lastEntry) r.log.stableTo(acc.lastEntry.index, acc.lastEntry.term);
    if (acc.committed.length > 0) {
      for (const e of acc.committed) r.applyEntryConf(e);
      r.log.appliedTo(acc.committed[acc.committed.length - 1].index);
      r.reduceUncommittedSize(acc.committed);
    }
    r.onStable();
  }
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
