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
  hardState: HardState;
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
  /** The hard state as of the last advance(): what the disk holds. */
  private durableHard: HardState;
  private outstanding?: Accepted;

  constructor(cfg: Config) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
    this.durableHard = this.prevHard;
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

  /**
   * Ids of members removed earlier, as the application remembers them (a snapshot or a new cluster loses
   * the conf changes that removed them): their messages are dropped and the ids cannot be added again.
   */
  markRemoved(ids: Iterable<NodeId>): void {
    for (const id of ids) if (id !== this.raft.id) this.raft.removed.add(id);
  }

  removedIds(): NodeId[] {
    return [...this.raft.removed].sort((a, b) => a - b);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** The transport saw the connection to `id` break (see Raft.reportPeerLost). */
  reportPeerLost(id: NodeId): void {
    this.raft.reportPeerLost(id);
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
    if (r.hasMessages || r.readStates.length > 0) return true;
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
    const [messages, messagesAfterAppend] = this.splitOutbox();
    // Committed entries before this Ready's first new entry are already in storage, i.e. durable.
    const firstNew = entries.length > 0 ? entries[0].index : Number.POSITIVE_INFINITY;
    let applyBeforeAppend = 0;
    if (!snapshot) {
      while (
        applyBeforeAppend < committedEntries.length &&
        committedEntries[applyBeforeAppend].index < firstNew
      )
        applyBeforeAppend++;
    }
    const rd: Ready = {
      entries,
      snapshot,
      committedEntries,
      applyBeforeAppend,
      messages,
      messagesAfterAppend,
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
    r.readStates = [];
    const last = entries[entries.length - 1];
    this.outstanding = {
      hardState: hard,
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.metadata.index,
      committed: committedEntries,
    };
    if (committedEntries.length > 0)
      r.log.acceptApplying(committedEntries[committedEntries.length - 1].index);
    return rd;
  }

  /** True when this node's term and vote are durable (nothing about them is in a write still pending). */
  private termDurable(): boolean {
    return this.raft.term === this.durableHard.term && this.raft.vote === this.durableHard.vote;
  }

  /** Empties the core's outbox into [may leave now, must wait for the write]. */
  private splitOutbox(): [Message[], Message[]] {
    const r = this.raft;
    const out = r.takeOutbox();
    if (!this.termDurable()) return [[], out];
    const now: Message[] = [];
    const later: Message[] = [];
    for (const m of out) (mayLeaveBeforeAppend(m) ? now : later).push(m);
    return [now, later];
  }

  /**
   * While a Ready is outstanding (its write not yet durable): the messages produced since that may leave now
   * (heartbeats, a leader's appends of proposals made meanwhile), so a slow fsync does not look like a dead
   * member. Everything else stays for the next Ready. Empty when no Ready is outstanding.
   */
  takeMessages(): Message[] {
    if (!this.outstanding || !this.termDurable()) return [];
    const r = this.raft;
    r.flushProposals();
    const now: Message[] = [];
    const keep: Message[] = [];
    for (const m of r.takeOutbox()) (mayLeaveBeforeAppend(m) ? now : keep).push(m);
    r.requeue(keep);
    return now;
  }

  /** The outstanding Ready was persisted, sent and applied. */
  advance(): void {
    const acc = this.outstanding;
    if (!acc) throw new RaftError('advance: no outstanding Ready');
    this.outstanding = undefined;
    this.durableHard = acc.hardState;
    const r = this.raft;
    if (acc.snapshotIndex !== undefined) {
      r.log.stableSnapTo(acc.snapshotIndex);
      r.log.appliedTo(acc.snapshotIndex);
    }
    if (acc.lastEntry) r.log.stableTo(acc.lastEntry.index, acc.lastEntry.term);
    if (acc.committed.length > 0) {
      // A snapshot restored since this Ready was cut already holds the configuration up to its index: a conf
      // change from before it must not be applied on top again (sweep seed 3014662, 5 nodes: a learner that
      // applied "addVoter 1" at index 1, then restored a snapshot after "remove 1", re-added 1 on advance).
      const restoredTo = r.log.firstIndex() - 1;
      for (const e of acc.committed) if (e.index > restoredTo) r.applyEntryConf(e);
      r.log.appliedTo(acc.committed[acc.committed.length - 1].index);
      r.reduceUncommittedSize(acc.committed);
    }
    r.onStable();
  }
}

/**
 * Messages that promise nothing about the sender's disk, so they may leave before its pending write is
 * durable — provided its current term and vote are durable. A leader's appends and heartbeats (it counts its
 * own log only after advance()), a follower's heartbeat answers, forwarded requests, snapshots (read from
 * storage), read-index answers (the commit index is durable on a quorum), transfer and pre-vote requests.
 * Acknowledgements (appResp), vote answers and vote requests wait for the write.
 */
export function mayLeaveBeforeAppend(m: Message): boolean {
  switch (m.type) {
    case 'appResp':
    case 'voteResp':
    case 'preVoteResp':
    case 'vote':
      return false;
    default:
      return true;
  }
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
