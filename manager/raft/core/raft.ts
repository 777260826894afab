import {
  applyConfChange,
  decodeConfChange,
  InvalidConfChangeError,
  validateConfChange,
} from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, isQuorum, voteResult } from './quorum.js';
import { ReadOnly } from './readonly.js';
import type {
  ConfChange,
  Config,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  ProposalTicket,
  ReadState,
  Role,
  SoftState,
  Status,
} from './types.js';
import {
  CompactedError,
  NONE,
  ProposalDroppedError,
  RaftError,
  SnapshotTemporarilyUnavailableError,
} from './types.js';
import { sizeOf } from './util.js';

/** Ticks of the short election timeout after a leader's loss, spread so that two followers rarely tie. */
const HURRY_SPREAD = 6;

/** Marks a vote request sent because of a leader transfer: it bypasses the leader lease. */
export const TRANSFER_CONTEXT = new TextEncoder().encode('raft:transfer');

const EMPTY = new Uint8Array(0);

function isTransfer(ctx: Uint8Array | undefined): boolean {
  if (!ctx || ctx.length !== TRANSFER_CONTEXT.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== TRANSFER_CONTEXT[i]) return false;
  return true;
}

export function newMessage(fields: Partial<Message> & { type: MessageType; to: NodeId }): Message {
  return {
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** The Raft protocol for one member: pure, driven by step/tick, output collected in msgs/readStates. */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  /** The outbox: RawNode takes it (takeOutbox) and decides what may leave when. */
  private msgs: Message[] = [];
  readStates: ReadState[] = [];

  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  leadTransferee: NodeId = NONE;
  /**
   * Members removed from the configuration (seen applied here, or told by the application, which keeps them
   * across snapshots): their messages are dropped and their ids are never added again, so a removed member
   * brought back with its old log can neither vote, campaign nor rejoin under the same identity.
   */
  readonly removed = new Set<NodeId>();
  private readonly droppedFrom = new Set<NodeId>();
  /** Index of the latest conf change (or of the leader's no-op); a new one waits until it is applied. */
  pendingConfIndex = 0;
  private uncommittedSize = 0;
  /** Proposals were appended since the last broadcast. */
  bcastPending = false;
  private readOnly = new ReadOnly();
  private pendingReadIndex: Message[] = [];

  private electionElapsed = 0;
  /**
   * Ticks left in which elections use the short timeout, after the transport saw our leader's connection
   * break (reportPeerLost); 0 otherwise.
   */
  private hurryTicks = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly cfg: Config;

  constructor(cfg: Config) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.id = cfg.id;
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady ?? 0);
    const { hardState, confState } = cfg.storage.initialState();
    this.setConfState(confState);
    if (hardState.commit > 0 || hardState.term > 0) this.loadHardState(hardState);
    if (cfg.applied !== undefined && cfg.applied > this.log.applied) {
      // Entries up to `applied` will not be delivered again: replay their conf changes here.
      for (const e of this.log.slice(this.log.applied + 1, cfg.applied + 1)) this.applyEntryConf(e, false);
      this.log.appliedTo(cfg.applied);
      // Applied means committed; the saved commit index may lag it (it is persisted lazily).
      if (this.log.committed < cfg.applied) this.log.committed = cfg.applied;
    }
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hs: HardState): void {
    if (hs.commit > this.log.lastIndex()) {
      throw new RaftError(`hardState.commit ${hs.commit} is past the last index ${this.log.lastIndex()}`);
    }
    // A snapshot is committed by definition, even if the saved commit index lags it.
    this.log.committed = Math.max(hs.commit, this.log.committed);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  confState(): ConfState {
    return {
      voters: [...this.voters].sort((a, b) => a - b),
      learners: [...this.learners].sort((a, b) => a - b),
    };
  }

  // ---- configuration ----

  setConfState(cs: ConfState): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    const next = this.log.lastIndex() + 1;
    const prs = new Map<NodeId, Progress>();
    for (const id of [...cs.voters, ...cs.learners]) {
      const old = this.prs.get(id);
      if (old) {
        old.isLearner = this.learners.has(id);
        prs.set(id, old);
      } else {
        const pr = new Progress(next, this.cfg.maxInflightMsgs, this.learners.has(id));
        // A new member has not been heard from, but must not block a snapshot send to it.
        pr.recentActive = true;
        prs.set(id, pr);
      }
    }
    this.prs = prs;
  }

  /** Applies a committed conf-change entry (called by RawNode.advance). */
  applyEntryConf(e: Entry, react = true): void {
    if (e.type !== 'confChange') return;
    this.applyConfChange(decodeConfChange(e.data), react);
  }

  applyConfChange(cc: ConfChange, react = true): void {
    this.setConfState(applyConfChange(this.confState(), cc));
    if (cc.type === 'remove' && cc.nodeId !== this.id) this.removed.add(cc.nodeId);
    if (!react || this.role !== 'leader') return;
    if (!this.voters.has(this.id)) {
      // A leader removed (or never a voter) must not keep leading a configuration it is not part of.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    // The quorum may have shrunk: entries may commit now; new members need the log.
    if (this.maybeCommit()) this.releasePendingReadIndex();
    this.bcastAppend();
  }

  private promotable(): boolean {
    return this.voters.has(this.id);
  }

  // ---- role transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.nextElectionTimeout();
    this.abortLeaderTransfer();
    this.votes = new Map();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.prs) {
      // recentActive starts false: a new leader must hear from a quorum within its first election timeout.
      this.prs.set(id, new Progress(next, this.cfg.maxInflightMsgs, pr.isLearner));
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    if (lead !== NONE) this.hurryTicks = 0;
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  /** In [electionTick, 2*electionTick) ticks; in [1, HURRY_SPREAD] while hurrying after a leader's loss. */
  private nextElectionTimeout(): number {
    if (this.hurryTicks > 0) return 1 + Math.floor(this.cfg.random() * HURRY_SPREAD);
    return this.cfg.electionTick + Math.floor(this.cfg.random() * this.cfg.electionTick);
  }

  /** A leader was heard from: elections are back to their full timeout. */
  private followLeader(lead: NodeId): void {
    this.electionElapsed = 0;
    this.lead = lead;
    if (this.hurryTicks > 0) {
      this.hurryTicks = 0;
      this.randomizedElectionTimeout = this.nextElectionTimeout();
    }
  }

  private becomePreCandidate(): void {
    // Term and vote stay: a pre-vote is a hypothetical election that changes nothing durable.
    this.role = 'preCandidate';
    this.votes = new Map();
    this.lead = NONE;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.hurryTicks = 0;
    const self = this.prs.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    self.maybeUpdate(this.log.stableLastIndex());
    // The no-op commits everything from earlier terms; conf changes wait for it (Ongaro's 2015 fix).
    this.appendEntries([{ term: this.term, index: 0, type: 'normal', data: EMPTY }]);
    this.pendingConfIndex = this.log.lastIndex();
    this.logf(`became leader at term ${this.term}`);
  }

  // ---- ticks ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.hurryTicks > 0 && --this.hurryTicks === 0)
      this.randomizedElectionTimeout = this.nextElectionTimeout();
    // A sole voter needs nobody's agreement (a new single-manager cluster, or its restart): no wait.
    const alone = this.voters.size === 1;
    if (this.promotable() && (alone || this.electionElapsed >= this.randomizedElectionTimeout)) {
      this.electionElapsed = 0;
      // A pre-vote round keeps the timeout; while hurrying, draw again so two tied members drift apart.
      if (this.hurryTicks > 0) this.randomizedElectionTimeout = this.nextElectionTimeout();
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!isQuorum(this.voters, (id) => this.prs.get(id)?.recentActive ?? false)) {
          this.logf(`stepped down: no quorum active at term ${this.term}`);
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs) {
          if (id === this.id) continue;
          pr.activeLastRound = pr.recentActive;
          pr.recentActive = false;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingContext());
    }
  }

  // ---- elections ----

  /** Starts an election unless this node is the leader or may be behind on its configuration. */
  hup(transfer: boolean): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // Committed but unapplied conf changes could make this node's idea of the voters stale.
    if (this.log.applied < this.log.committed) {
      const pending = this.log.slice(this.log.applied + 1, this.log.committed + 1);
      if (pending.some((e) => e.type === 'confChange')) return;
    }
    if (this.cfg.preVote && !transfer) this.campaign('preVote', false);
    else this.campaign('vote', transfer);
  }

  private campaign(kind: 'preVote' | 'vote', transfer: boolean): void {
    let term: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.votes.set(this.id, true);
    const result = voteResult(this.voters, this.votes);
    if (result === 'won') {
      if (kind === 'preVote') this.campaign('vote', false);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send(
        newMessage({
          type: kind,
          to: id,
          term,
          index: lastIndex,
          logTerm: lastTerm,
          context: transfer ? TRANSFER_CONTEXT : undefined,
        }),
      );
    }
  }

  private poll(from: NodeId, granted: boolean): ReturnType<typeof voteResult> {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    return voteResult(this.voters, this.votes);
  }

  // ---- message handling ----

  step(m: Message): void {
    if (m.from !== this.id && this.removed.has(m.from)) {
      if (!this.droppedFrom.has(m.from)) this.logf(`drops messages from removed member ${m.from}`);
      this.droppedFrom.add(m.from);
      return;
    }
    if (m.term === 0) {
      // Forwarded requests (prop, readIndex, transferLeader) carry no term.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // (A follower that saw its leader's connection break no longer vouches for it: see reportPeerLost.)
        const inLease =
          this.cfg.checkQuorum &&
          this.lead !== NONE &&
          this.hurryTicks === 0 &&
          this.electionElapsed < this.cfg.electionTick;
        // A live leader makes us ignore campaigns (e.g. from a removed or partitioned node).
        if (inLease && !isTransfer(m.context)) return;
      }
      if (m.type === 'preVote') {
        // Never change term on a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term bump happens when the real election starts.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader (e.g. healed partition) learns our term and steps down.
        this.send(newMessage({ type: 'appResp', to: m.from }));
      } else if (m.type === 'preVote') {
        this.send(newMessage({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'preVote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === 'preVote' && m.term > this.term);
        const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // A pre-vote answer carries the asked term so the candidate does not mistake it for stale.
          this.send(newMessage({ type: respType, to: m.from, term: m.term }));
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(newMessage({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        if (this.role === 'leader') this.stepLeader(m);
        else if (this.role === 'follower') this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'prop':
        try {
          this.appendProposal(m.entries, false);
        } catch (err) {
          // A forwarded proposal that cannot be taken is dropped; its proposer times out and retries.
          if (!(err instanceof ProposalDroppedError)) throw err;
        }
        return;
      case 'readIndex':
        this.handleReadIndexAsLeader(m);
        return;
      case 'transferLeader':
        this.handleTransferLeader(m.from);
        return;
    }
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        if (m.reject) {
          let probe = m.rejectHint;
          if (m.logTerm > 0) probe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
          if (pr.maybeDecrTo(m.index, probe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        {
          const wasPaused = pr.isPaused();
          if (!pr.maybeUpdate(m.index)) return;
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

          if (this.maybeCommit()) {
            this.releasePendingReadIndex();
            this.bcastAppend();
          } else if (wasPaused) {
            this.sendAppend(m.from);
          }
          // Pipeline: fill the window while there is something to send.
          while (this.maybeSendAppend(m.from, false)) {}
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.sendTimeoutNow(m.from);
          }
        }
        return;
      case 'heartbeatResp': {
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (!m.context || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || !isQuorum(this.voters, (id) => acks.has(id))) return;
        for (const rs of this.readOnly.advance(m.context)) this.answerReadIndex(rs.req, rs.index);
        return;
      }
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        return; // dropped: no leader to forward to
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myResp) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaign('vote', false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
      case 'readIndex':
      case 'transferLeader':
        if (this.lead === NONE) return;
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'app':
        this.followLeader(m.from);
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.followLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.followLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        this.hup(true);
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? EMPTY });
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: 'appResp', to: m.from, index: lastNew }));
      return;
    }
    // Tell the leader where to look: our last index at or before m.index with a term <= its logTerm.
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(
      Math.min(m.index, this.log.lastIndex()),
      m.logTerm,
    );
    this.send(
      newMessage({
        type: 'appResp',
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hintIndex,
        logTerm: hintTerm,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(match, commit), so this never commits past what we hold.
    if (m.commit <= this.log.lastIndex()) this.log.commitTo(m.commit);
    this.send(newMessage({ type: 'heartbeatResp', to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.restore(s)) {
      this.logf(`restored snapshot at ${s.metadata.index}`);
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(newMessage({ type: 'appResp', to: m.from, index: this.log.committed }));
    }
  }

  private restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.log.committed) return false;
    if (this.role !== 'follower') {
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    // The snapshot's configuration may predate our own addition (the leader snapshotted before adding us):
    // install it anyway, the entries that follow add us.
    const cs = s.metadata.confState;
    if (this.log.matchTerm(index, term)) {
      // We already have the entries: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.setConfState(cs);
    return true;
  }

  // ---- replication ----

  private send(m: Message): void {
    m.from = this.id;
    const keepsTerm =
      m.type === 'vote' || m.type === 'preVote' || m.type === 'voteResp' || m.type === 'preVoteResp';
    if (!keepsTerm && m.type !== 'prop' && m.type !== 'readIndex' && m.type !== 'transferLeader') {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends entries from pr.next (or a snapshot if they are compacted). Returns whether a message went out. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(pr.next - 1);
      ents = this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (err) {
      if (err instanceof CompactedError) return this.sendSnapshot(to, pr);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      newMessage({
        type: 'app',
        to,
        index: pr.next - 1,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      }),
    );
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1].index : 0, sizeOf(ents));
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    if (snapshot.metadata.index === 0)
      throw new RaftError('need a non-empty snapshot to catch up a follower');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send(newMessage({ type: 'snap', to, snapshot }));
    return true;
  }

  /** Hands the outbox to RawNode and empties it. */
  takeOutbox(): Message[] {
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  /** Puts back messages RawNode did not hand out yet, ahead of newer ones. */
  requeue(ms: Message[]): void {
    if (ms.length > 0) this.msgs = ms.concat(this.msgs);
  }

  get hasMessages(): boolean {
    return this.msgs.length > 0;
  }

  /** Sends the appends deferred by proposals (called when the driver takes a Ready). */
  flushProposals(): void {
    if (!this.bcastPending) return;
    this.bcastPending = false;
    if (this.role === 'leader') this.bcastAppend();
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: Uint8Array | undefined): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send(
        newMessage({
          type: 'heartbeat',
          to: id,
          commit: Math.min(pr.match, this.log.committed),
          context: ctx,
        }),
      );
    }
  }

  private maybeCommit(): boolean {
    const mci = committedIndex(this.voters, (id) => this.prs.get(id)?.match ?? 0);
    return this.log.maybeCommit(mci, this.term);
  }

  /** The driver persisted entries up to the log's stable index: count the leader's own acknowledgement. */
  onStable(): void {
    if (this.role !== 'leader') return;
    const self = this.prs.get(this.id);
    if (!self) return;
    if (self.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    }
  }

  private appendEntries(es: Entry[]): boolean {
    const size = sizeOf(es);
    const max = this.cfg.maxUncommittedEntriesSize;
    // An empty no-op and the first entry are always accepted, so a big one cannot wedge the leader.
    if (max > 0 && size > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > max) return false;
    let li = this.log.lastIndex();
    for (const e of es) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(es);
    this.uncommittedSize += size;
    return true;
  }

  reduceUncommittedSize(ents: Entry[]): void {
    this.uncommittedSize = Math.max(0, this.uncommittedSize - sizeOf(ents));
  }

  /** Appends proposals on the leader. Local callers get errors; forwarded conf changes degrade to no-ops. */
  private appendProposal(entries: Entry[], local: boolean): ProposalTicket {
    if (entries.length === 0) throw new ProposalDroppedError('empty proposal');
    if (!this.prs.has(this.id)) throw new ProposalDroppedError('this node was removed from the cluster');
    if (this.leadTransferee !== NONE) {
      throw new ProposalDroppedError(`leadership transfer to ${this.leadTransferee} in progress`);
    }
    const es = entries.map((e) => ({ ...e }));
    for (let i = 0; i < es.length; i++) {
      if (es[i].type !== 'confChange') continue;
      let reason: string | undefined;
      if (this.pendingConfIndex > this.log.applied) {
        reason = `a configuration change (index ${this.pendingConfIndex}) is not applied yet`;
      } else {
        const cc = decodeConfChange(es[i].data);
        reason =
          cc.type !== 'remove' && this.removed.has(cc.nodeId)
            ? `member ${cc.nodeId} was removed from the cluster; its id cannot be used again`
            : validateConfChange(this.confState(), cc);
      }
      if (reason !== undefined) {
        if (local) throw new InvalidConfChangeError(`proposeConfChange: ${reason}`);
        es[i] = { term: 0, index: 0, type: 'normal', data: EMPTY };
      } else {
        this.pendingConfIndex = this.log.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntries(es)) throw new ProposalDroppedError('too many uncommitted bytes at the leader');
    // Group commit: proposals made before the next Ready share one append per follower.
    this.bcastPending = true;
    const last = es[es.length - 1];
    return { index: last.index, term: last.term };
  }

  /** A local proposal: appended here on the leader, forwarded by a follower. */
  propose(entries: Entry[]): ProposalTicket | undefined {
    if (this.role === 'leader') return this.appendProposal(entries, true);
    if (this.role !== 'follower' || this.lead === NONE) {
      throw new ProposalDroppedError(`no leader at term ${this.term}`);
    }
    this.send(newMessage({ type: 'prop', to: this.lead, entries }));
    return undefined;
  }

  // ---- reads ----

  readIndex(ctx: Uint8Array): void {
    const m = newMessage({ type: 'readIndex', to: this.id, from: this.id, context: ctx });
    if (this.role === 'leader') this.handleReadIndexAsLeader(m);
    else if (this.role === 'follower' && this.lead !== NONE) this.send({ ...m, to: this.lead });
    else throw new ProposalDroppedError(`readIndex: no leader at term ${this.term}`);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.zeroTermOnOutOfRange(this.log.committed) === this.term;
  }

  private handleReadIndexAsLeader(m: Message): void {
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.answerReadIndex(m, this.log.committed);
      return;
    }
    // Until our no-op commits, our commit index may lag the true one: wait.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndex.push(m);
      return;
    }
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, m.context);
    this.bcastHeartbeat(m.context);
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.handleReadIndexAsLeader(m);
  }

  private answerReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, context: req.context ?? EMPTY });
    } else {
      this.send(newMessage({ type: 'readIndexResp', to: req.from, index, context: req.context }));
    }
  }

  // ---- leader transfer ----

  transferLeadership(to: NodeId): void {
    if (this.role === 'leader') this.handleTransferLeader(to);
    else if (this.lead !== NONE) this.send(newMessage({ type: 'transferLeader', to: this.lead, from: to }));
    else throw new ProposalDroppedError(`transferLeadership: no leader at term ${this.term}`);
  }

  private handleTransferLeader(to: NodeId): void {
    const pr = this.prs.get(to);
    if (!pr || pr.isLearner || to === this.id) return;
    if (this.leadTransferee === to) return;
    this.abortLeaderTransfer();
    this.leadTransferee = to;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: 'timeoutNow', to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- driver reports ----

  reportUnreachable(id: NodeId): void {
    const pr = this.prs.get(id);
    if (this.role !== 'leader' || !pr) return;
    if (pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The transport saw the connection to `id` break. When `id` is our leader, it most likely crashed (a dead
   * process's sockets close at once): stop honouring its lease and campaign after a few ticks instead of a
   * whole election timeout, and keep elections short for one election timeout. Harmless when the leader is
   * in fact alive: pre-vote fails while the other members still hear from it, and its next message makes us
   * its follower again. This is what lets the election timeout be long enough to ride out a busy leader's
   * stalls while a crashed leader is still replaced quickly.
   */
  reportPeerLost(id: NodeId): void {
    if (this.role !== 'follower' || this.lead !== id || !this.promotable()) return;
    this.logf(`lost the connection to leader ${id}: campaigning early`);
    // The leader stays named until the campaign starts: a connection that broke while another carries the
    // leader's messages (one left over from before a partition healed, say) then costs no moment without a
    // leader — its next heartbeat ends the hurry.
    this.hurryTicks = this.cfg.electionTick;
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.nextElectionTimeout();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.prs.get(id);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat response) before probing again.
    pr.probeSent = true;
  }

  status(applied: number): Status {
    const progress: Status['progress'] = {};
    if (this.role === 'leader') for (const [id, pr] of this.prs) progress[id] = pr.view();
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.lead,
      commit: this.log.committed,
      applied,
      lastIndex: this.log.lastIndex(),
      config: this.confState(),
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  private logf(msg: string): void {
    this.cfg.logger?.(`raft ${this.id}: ${msg}`);
  }
}

type Snapshot = NonNullable<Message['snapshot']>;

function validateConfig(cfg: Config): void {
  const positive = (name: keyof Config, v: number | undefined) => {
    if (v === undefined || !Number.isSafeInteger(v) || v <= 0) {
      throw new RaftError(`config.${String(name)}: must be a positive integer, got ${v}`);
    }
  };
  positive('id', cfg.id);
  positive('electionTick', cfg.electionTick);
  positive('heartbeatTick', cfg.heartbeatTick);
  positive('maxInflightMsgs', cfg.maxInflightMsgs);
  positive('maxSizePerMsg', cfg.maxSizePerMsg);
  if (cfg.heartbeatTick >= cfg.electionTick) {
    throw new RaftError(
      `config.electionTick: must be greater than heartbeatTick (${cfg.electionTick} <= ${cfg.heartbeatTick})`,
    );
  }
  if (!Number.isFinite(cfg.maxUncommittedEntriesSize) || cfg.maxUncommittedEntriesSize < 0) {
    throw new RaftError(
      `config.maxUncommittedEntriesSize: must be >= 0, got ${cfg.maxUncommittedEntriesSize}`,
    );
  }
  if (typeof cfg.random !== 'function')
    throw new RaftError('config.random: must be a function returning [0, 1)');
  if (!cfg.storage) throw new RaftError('config.storage: required');
}
