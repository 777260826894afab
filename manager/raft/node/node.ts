// The raft node: the production RaftDriver (driver.ts: the one Ready loop, also run by the simulator) over
// the WAL (DiskLog) and the gRPC transport, plus the API the state store uses (ReplicatedLog: propose and learn
// the applied index, read barrier, leadership events) and the membership/operations API.
//
// This file holds no Ready handling: it turns the driver's hooks into promises (proposal waiters, read
// waiters), events, the address book (from conf-change contexts and snapshots) and status.
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { validateConfChange } from '../core/confchange.js';
import type { ConfChange, Entry, NodeId, PeerProgress, Role, SoftState, Status } from '../core/types.js';
import { NONE, ProposalDroppedError } from '../core/types.js';
import type { Applied, LeadershipEvent, ReplicatedLog, StateMachine } from '../replicated.js';
import { ForwardRefusal, RaftTransport } from '../transport/transport.js';
import { DiskStorage } from '../wal/disk-storage.js';
import type { WalStats } from '../wal/wal.js';
import { type Clock, immediateScheduler, type Scheduler, systemClock } from './clock.js';
import { DiskLog } from './disk-log.js';
import { type DriverStats, RaftDriver } from './driver.js';
import {
  IdentityMismatchError,
  InvalidArgumentError,
  NodeStoppedError,
  NotLeaderError,
  ProposalOutcomeUnknownError,
  RaftTimeoutError,
} from './errors.js';
import { decodeMeta, decodeNodeSnapshot, encodeMeta, encodeNodeSnapshot } from './snapshot-codec.js';

export interface RaftNodeOptions<R = unknown> {
  id: NodeId;
  dataDir: string;
  /** host:port other members dial to reach this one. */
  advertiseAddress: string;
  /** Founding members (including this one) when starting a brand-new cluster. Ignored on restart. */
  bootstrap?: { id: NodeId; address: string }[];
  /** Start empty and wait to be added by the leader (addLearner). Ignored on restart. */
  join?: boolean;
  stateMachine: StateMachine<R>;
  credentials: grpc.ChannelCredentials;
  clock?: Clock;
  /** Where deferred work runs (default setImmediate). */
  scheduler?: Scheduler;
  random?: () => number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Take a state-machine snapshot and compact the log every this many applied entries. */
  snapshotEvery?: number;
  /** Entries kept in memory behind a snapshot so slightly-lagging followers avoid a snapshot transfer. */
  keepEntries?: number;
  fsync?: boolean;
  segmentBytes?: number;
  maxProposalBytes?: number;
  /**
   * A follower passes proposals to the leader (one hop over the raft service) instead of refusing them with
   * NotLeaderError; the proposal then resolves once the entry is applied here, as a local one does.
   */
  forwardProposals?: boolean;
  /**
   * Reject a proposal still pending after this long with ProposalOutcomeUnknownError (it may yet commit);
   * 0 waits as long as it takes (a proposal made during a quorum loss then waits for quorum to return).
   */
  proposalTimeoutMs?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  log?: (msg: string) => void;
}

export interface Member {
  id: NodeId;
  address: string | undefined;
  voter: boolean;
}

export interface NodeStatus extends Omit<Status, 'progress'> {
  members: Member[];
  progress: Record<number, PeerProgress>;
  /** The last storage failure, while writes are failing. */
  storageFault?: string;
  snapshotIndex: number;
  stats: DriverStats & { wal: WalStats };
}

export type ProposeResult<R> = Applied<R>;

interface Waiter {
  term: number;
  resolve: (r: Applied<unknown>) => void;
  reject: (e: Error) => void;
}

interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
  timer: unknown;
}

export class RaftNode<R = unknown> extends EventEmitter implements ReplicatedLog<R> {
  private readonly driver: RaftDriver;
  private readonly disk: DiskStorage;
  private readonly transport: RaftTransport;
  private readonly sm: StateMachine<R>;
  private readonly clock: Clock;
  private readonly log: (msg: string) => void;
  private readonly addresses = new Map<NodeId, string>();
  private readonly waiters = new Map<number, Waiter>();
  /**
   * While a forwarded proposal waits for the leader's answer: the entries applied meanwhile (terms and
   * results), for when its entry is applied here before the answer (naming its index) comes back. Kept only
   * then: an entry applied while no forward is out cannot be one of a later forward (the leader appends a
   * proposal after it arrives, after everything already committed), and a result holds the transaction's
   * objects — 1,024 of them, kept always, were megabytes of a manager's memory after a busy spell.
   */
  private readonly recentlyApplied = new Map<number, { term: number; result: unknown }>();
  private forwardsOut = 0;
  private readonly reads = new Map<string, ReadWaiter>();
  /** Reads whose index is known but not yet applied, in index order. */
  private readsAwaitingApply: { index: number; resolve: (i: number) => void }[] = [];
  private readonly progressListeners = new Set<() => void>();
  private readonly leadershipListeners = new Set<(e: LeadershipEvent) => void>();
  private stopped = false;
  private removed = false;
  private readonly removedIds = new Set<NodeId>();
  private soft: SoftState = { leader: NONE, role: 'follower' };
  private readSeq = 0;
  private readonly o: Required<
    Pick<
      RaftNodeOptions,
      | 'tickMs'
      | 'electionTicks'
      | 'heartbeatTicks'
      | 'snapshotEvery'
      | 'keepEntries'
      | 'maxProposalBytes'
      | 'forwardProposals'
      | 'proposalTimeoutMs'
      | 'maxSizePerMsg'
      | 'maxInflightMsgs'
    >
  >;

  readonly id: NodeId;

  private constructor(opts: RaftNodeOptions<R>) {
    super();
    this.id = opts.id;
    this.sm = opts.stateMachine;
    this.clock = opts.clock ?? systemClock;
    const random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
    this.o = {
      tickMs: opts.tickMs ?? 50,
      electionTicks: opts.electionTicks ?? 8,
      heartbeatTicks: opts.heartbeatTicks ?? 1,
      snapshotEvery: opts.snapshotEvery ?? 10_000,
      keepEntries: opts.keepEntries ?? 500,
      maxProposalBytes: opts.maxProposalBytes ?? 1024 * 1024,
      forwardProposals: opts.forwardProposals ?? false,
      proposalTimeoutMs: opts.proposalTimeoutMs ?? 0,
      maxSizePerMsg: opts.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: opts.maxInflightMsgs ?? 256,
    };
    const bootstrapPeers = opts.bootstrap ?? [];
    this.disk = DiskStorage.open(opts.dataDir, {
      meta: encodeMeta({ id: opts.id, peers: bootstrapPeers.map((p) => [p.id, p.address]) }),
      fsync: opts.fsync,
      segmentBytes: opts.segmentBytes,
      log: this.log,
    });
    const meta = decodeMeta(this.disk.meta);
    if (meta && meta.id !== opts.id) {
      this.disk.close();
      throw new IdentityMismatchError(
        `data directory ${opts.dataDir} belongs to member ${meta.id}, not ${opts.id}`,
      );
    }
    for (const [id, addr] of meta?.peers ?? []) this.addresses.set(id, addr);
    this.addresses.set(opts.id, opts.advertiseAddress);

    this.transport = new RaftTransport({
      id: opts.id,
      advertiseAddress: opts.advertiseAddress,
      credentials: opts.credentials,
      random,
      log: this.log,
      handlers: {
        onMessage: (m) => {
          if (!this.stopped && m.to === this.id) this.driver.step(m);
        },
        onUnreachable: (id) => this.driver.reportUnreachable(id),
        onPeerLost: (id) => this.driver.reportPeerLost(id),
        onSnapshotStatus: (id, ok) => this.driver.reportSnapshot(id, ok),
        onPeerAddress: (id, addr) => {
          if (!this.addresses.has(id)) {
            this.addresses.set(id, addr);
            this.transport.setPeer(id, addr);
          }
        },
        onPropose: (data) => this.acceptForwarded(data),
      },
    });

    this.driver = new RaftDriver({
      id: opts.id,
      storage: new DiskLog(this.disk),
      transport: this.transport,
      clock: this.clock,
      scheduler: opts.scheduler ?? immediateScheduler,
      app: {
        apply: (e) => this.sm.apply(e.data, e.index),
        snapshot: () => encodeNodeSnapshot(this.addresses, this.sm.snapshot()),
        ...(this.sm.snapshotLater
          ? {
              snapshotLater: () => {
                const addresses = new Map(this.addresses); // as of now, with the state
                return (this.sm.snapshotLater as () => Promise<Uint8Array>)().then((sm) =>
                  encodeNodeSnapshot(addresses, sm),
                );
              },
            }
          : {}),
        restore: (data) => this.restoreSnapshot(data),
      },
      raft: {
        electionTick: this.o.electionTicks,
        heartbeatTick: this.o.heartbeatTicks,
        preVote: true,
        checkQuorum: true,
        maxSizePerMsg: this.o.maxSizePerMsg,
        maxInflightMsgs: this.o.maxInflightMsgs,
        maxUncommittedEntriesSize: 256 * 1024 * 1024,
        // Committed entries applied per turn of the loop: a member that fell behind catches up a slice at a
        // time instead of holding its event loop (and its heartbeats) for seconds.
        maxCommittedSizePerReady: 512 * 1024,
        random,
        logger: this.log,
      },
      snapshotEvery: this.o.snapshotEvery,
      keepEntries: this.o.keepEntries,
      log: this.log,
      hooks: {
        applied: (e, result) => this.onApplied(e, result),
        confChange: (cc, e) => this.onConfChange(cc, e),
        readStates: (rs) => this.answerReads(rs),
        softState: (s) => this.onSoftState(s),
        snapshotInstalled: (index) => this.onSnapshotInstalled(index),
        storageFault: (err, info) => this.onStorageFault(err, info),
        progressed: () => {
          for (const l of this.progressListeners) l();
        },
      },
    });
    for (const [id, addr] of this.addresses) this.transport.setPeer(id, addr);

    if (!this.disk.restored && bootstrapPeers.length > 0 && !opts.join) {
      this.validateBootstrap(bootstrapPeers, opts.id);
      this.driver.bootstrap(bootstrapPeers.map((p) => p.id));
    }
    const s = this.driver.core.raft.softState();
    this.soft = { leader: s.leader, role: s.role };
  }

  /** Opens the data directory (replaying the WAL), and starts ticking. */
  static start<R>(opts: RaftNodeOptions<R>): RaftNode<R> {
    validateOptions(opts);
    const node = new RaftNode(opts);
    node.driver.startTicking(node.o.tickMs);
    node.driver.schedule();
    return node;
  }

  /** The raft service to register on this member's gRPC server. */
  raftService() {
    return this.transport.service();
  }

  get isLeader(): boolean {
    return this.soft.role === 'leader';
  }

  get leader(): NodeId {
    return this.soft.leader;
  }

  get appliedIndex(): number {
    return this.driver.applied;
  }

  /** Resolves once the entry is committed and applied here; rejects with a typed error otherwise. */
  propose(data: Uint8Array): Promise<Applied<R>> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new InvalidArgumentError('data', 'must be a Uint8Array'));
    }
    if (data.length > this.o.maxProposalBytes) {
      return Promise.reject(
        new InvalidArgumentError(
          'data',
          `${data.length} bytes exceeds the limit of ${this.o.maxProposalBytes}`,
        ),
      );
    }
    if (this.o.forwardProposals && this.soft.role !== 'leader' && !this.stopped && !this.driver.storageFault)
      return this.forward(data) as Promise<Applied<R>>;
    const refused = this.refuseWrite();
    if (refused) return Promise.reject(refused);
    let ticket: ReturnType<RaftDriver['propose']>;
    try {
      ticket = this.driver.propose(data);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!ticket) return Promise.reject(this.notLeader());
    return this.track(ticket) as Promise<Applied<R>>;
  }

  /**
   * A linearizable read point: resolves with an index once this member has applied it, after the leader
   * confirmed its leadership with a quorum. Reads of local state after that see every acknowledged write.
   */
  readIndex(timeoutMs = this.o.tickMs * this.o.electionTicks * 2): Promise<number> {
    if (this.stopped) return Promise.reject(new NodeStoppedError('node stopped'));
    if (this.soft.leader === NONE) return Promise.reject(this.notLeader());
    return new Promise((resolve, reject) => {
      const ctx = Buffer.allocUnsafe(8);
      ctx.writeUInt32LE(this.id >>> 0, 0);
      ctx.writeUInt32LE(++this.readSeq >>> 0, 4);
      const key = ctx.toString('latin1');
      const timer = this.clock.setTimeout(() => {
        if (this.reads.delete(key))
          reject(new RaftTimeoutError(`read index not confirmed within ${timeoutMs} ms`));
      }, timeoutMs);
      this.reads.set(key, { resolve, reject, timer });
      try {
        this.driver.readIndex(ctx);
      } catch (err) {
        this.reads.delete(key);
        this.clock.clearTimeout(timer);
        reject(err);
      }
    });
  }

  /** ReplicatedLog: the linearizable read barrier (ReadIndex). */
  readBarrier(): Promise<number> {
    return this.readIndex();
  }

  /** ReplicatedLog: this member's current view of leadership. */
  leadership(): LeadershipEvent {
    return {
      isLeader: this.soft.role === 'leader',
      term: this.driver.core.raft.term,
      leaderId: this.soft.leader,
    };
  }

  /** ReplicatedLog: called on every leadership change seen here. Returns unsubscribe. */
  onLeadershipChange(fn: (e: LeadershipEvent) => void): () => void {
    this.leadershipListeners.add(fn);
    return () => this.leadershipListeners.delete(fn);
  }

  status(): NodeStatus {
    const s = this.driver.core.status();
    const members: Member[] = [
      ...s.config.voters.map((id) => ({ id, address: this.addresses.get(id), voter: true })),
      ...s.config.learners.map((id) => ({ id, address: this.addresses.get(id), voter: false })),
    ];
    const fault = this.driver.storageFault;
    return {
      ...s,
      applied: this.driver.applied,
      members,
      snapshotIndex: this.driver.snapshotIndex,
      stats: { ...this.driver.stats, wal: this.disk.walStats() },
      ...(fault ? { storageFault: fault.message } : {}),
    };
  }

  /** Adds a non-voting member that receives the log; resolves once the change is applied here. */
  async addLearner(id: NodeId, address: string): Promise<void> {
    checkId(id, 'id');
    checkAddress(address, 'address');
    await this.proposeConfChange({ type: 'addLearner', nodeId: id, context: Buffer.from(address) });
  }

  /** Turns a learner into a voter once it has caught up with the leader's log. */
  async promote(id: NodeId, timeoutMs = 30_000): Promise<void> {
    checkId(id, 'id');
    const refused = this.refuseWrite();
    if (refused) throw refused;
    const cfg = this.driver.core.status().config;
    if (!cfg.learners.includes(id)) throw new InvalidArgumentError('id', `member ${id} is not a learner`);
    const target = this.driver.core.status().lastIndex;
    await this.waitFor(
      () => {
        if (this.soft.role !== 'leader') throw this.notLeader(); // lost leadership while waiting
        const p = this.driver.core.status().progress[id];
        return p !== undefined && p.match >= target;
      },
      timeoutMs,
      `learner ${id} did not catch up to index ${target}`,
    );
    await this.proposeConfChange({ type: 'promote', nodeId: id, context: new Uint8Array(0) });
  }

  async removeMember(id: NodeId): Promise<void> {
    checkId(id, 'id');
    await this.proposeConfChange({ type: 'remove', nodeId: id, context: new Uint8Array(0) });
  }

  /** Hands leadership to `to`; resolves once this member sees `to` lead. */
  async transferLeadership(to: NodeId, timeoutMs = this.o.tickMs * this.o.electionTicks * 3): Promise<void> {
    checkId(to, 'to');
    if (this.stopped) throw new NodeStoppedError('node stopped');
    const s = this.driver.core.status();
    if (!s.config.voters.includes(to)) throw new InvalidArgumentError('to', `member ${to} is not a voter`);
    if (s.leader === to) return;
    if (s.role !== 'leader' && s.leader === NONE) throw this.notLeader();
    this.driver.transferLeadership(to);
    await this.waitFor(() => this.soft.leader === to, timeoutMs, `leadership did not move to ${to}`);
  }

  /**
   * The cluster's raft settings changed (swarm update --snapshot-interval, LogEntriesForSlowFollowers):
   * the next snapshot decision uses them.
   */
  setSnapshotPolicy(p: { snapshotEvery?: number; keepEntries?: number }): void {
    for (const [k, v] of Object.entries(p))
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1))
        throw new RangeError(`raft ${k} must be a positive integer, got ${v}`);
    if (p.snapshotEvery !== undefined) this.o.snapshotEvery = p.snapshotEvery;
    if (p.keepEntries !== undefined) this.o.keepEntries = p.keepEntries;
    this.driver.setSnapshotPolicy(p);
  }

  /** New mTLS credentials (a renewed certificate, a new root) for connections to peers made from now on. */
  setCredentials(credentials: grpc.ChannelCredentials): void {
    this.transport.setCredentials(credentials);
  }

  /**
   * Members removed earlier, as the application remembers them (the raft core learns removals only from the
   * conf changes it applies; a snapshot or a forced new cluster loses those): their messages are dropped and
   * their ids are never added again.
   */
  markRemoved(ids: Iterable<NodeId>): void {
    const fresh = [...ids].filter((id) => id !== this.id && !this.removedIds.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) this.removedIds.add(id);
    this.driver.markRemoved(fresh);
  }

  /**
   * This member's applied state (the state machine's snapshot, the applied index and its term), for
   * seedNewCluster. Read in one go, so the three agree.
   */
  exportState(): { index: number; term: number; data: Uint8Array } {
    const index = this.driver.applied;
    const term = index > 0 ? this.driver.core.raft.log.term(index) : 0;
    return { index, term, data: this.sm.snapshot() };
  }

  /** Starts an election now (tools and tests). */
  campaign(): void {
    this.driver.campaign();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.driver.stop();
    const err = new NodeStoppedError('node stopped');
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const r of this.reads.values()) {
      this.clock.clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
    this.transport.close();
    this.disk.close();
    for (const l of this.progressListeners) l();
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  // ---- internals ----

  private validateBootstrap(peers: { id: NodeId; address: string }[], self: NodeId): void {
    if (!peers.some((p) => p.id === self)) {
      throw new InvalidArgumentError('bootstrap', `must include this member (${self})`);
    }
  }

  private refuseWrite(): Error | null {
    if (this.stopped) return new NodeStoppedError('node stopped');
    const fault = this.driver.storageFault;
    if (fault) return fault;
    if (this.soft.role !== 'leader') return this.notLeader();
    return null;
  }

  private notLeader(): NotLeaderError {
    const l = this.soft.leader;
    return new NotLeaderError(l, l ? this.addresses.get(l) : undefined);
  }

  private track(ticket: { index: number; term: number }): Promise<Applied<unknown>> {
    return new Promise((resolve, reject) => {
      const limit = this.o.proposalTimeoutMs;
      if (limit <= 0) {
        this.waiters.set(ticket.index, { term: ticket.term, resolve, reject });
        return;
      }
      const timer = this.clock.setTimeout(() => {
        if (this.waiters.get(ticket.index)?.term !== ticket.term) return;
        this.waiters.delete(ticket.index);
        reject(new ProposalOutcomeUnknownError(`entry ${ticket.index} not applied within ${limit} ms`));
      }, limit);
      const done = () => this.clock.clearTimeout(timer);
      this.waiters.set(ticket.index, {
        term: ticket.term,
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
    });
  }

  /** A follower's proposal: sent to the leader, then tracked here like a local one. */
  private async forward(data: Uint8Array): Promise<Applied<unknown>> {
    const leader = this.soft.leader;
    if (leader === NONE) throw this.notLeader();
    this.forwardsOut++;
    try {
      return await this.forwardOut(leader, data);
    } finally {
      if (--this.forwardsOut === 0) this.recentlyApplied.clear();
    }
  }

  private async forwardOut(leader: NodeId, data: Uint8Array): Promise<Applied<unknown>> {
    let ticket: { index: number; term: number };
    try {
      const wait =
        this.o.proposalTimeoutMs > 0 ? this.o.proposalTimeoutMs : this.o.tickMs * this.o.electionTicks * 4;
      ticket = await this.transport.forwardPropose(leader, data, wait);
    } catch (err) {
      if (err instanceof ForwardRefusal) {
        if (err.code === 'invalid') throw new InvalidArgumentError('data', err.message);
        if (err.code === 'not_leader') throw this.notLeader();
        throw new ProposalDroppedError(`the leader refused the entry (its storage failed): ${err.message}`);
      }
      throw new ProposalOutcomeUnknownError((err as Error).message);
    }
    if (this.stopped) throw new NodeStoppedError('node stopped');
    if (this.driver.applied >= ticket.index) {
      // Applied here before the leader's answer came back.
      const seen = this.recentlyApplied.get(ticket.index);
      if (!seen)
        throw new ProposalOutcomeUnknownError(`entry ${ticket.index} was applied before the answer arrived`);
      if (seen.term !== ticket.term)
        throw new ProposalDroppedError(`entry ${ticket.index} was replaced by one from term ${seen.term}`);
      return { index: ticket.index, result: seen.result };
    }
    return this.track(ticket);
  }

  /** The leader's side of a forwarded proposal (the transport's onPropose). */
  private acceptForwarded(data: Uint8Array): { index: number; term: number } {
    if (data.length > this.o.maxProposalBytes)
      throw new ForwardRefusal(
        'invalid',
        `${data.length} bytes exceeds the limit of ${this.o.maxProposalBytes}`,
      );
    if (this.stopped || this.soft.role !== 'leader') throw new ForwardRefusal('not_leader', 'not the leader');
    if (this.driver.storageFault) throw new ForwardRefusal('storage', this.driver.storageFault.message);
    const ticket = this.driver.propose(data);
    if (!ticket) throw new ForwardRefusal('not_leader', 'not the leader');
    return ticket;
  }

  private async proposeConfChange(cc: ConfChange): Promise<void> {
    const refused = this.refuseWrite();
    if (refused) throw refused;
    const why = validateConfChange(this.driver.core.confState(), cc);
    if (why) throw new InvalidArgumentError('id', why);
    const ticket = this.driver.proposeConfChange(cc);
    if (!ticket) throw this.notLeader();
    await this.track(ticket);
  }

  private waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    try {
      if (cond()) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.stopped) {
          done();
          reject(new NodeStoppedError('node stopped'));
          return;
        }
        let ok: boolean;
        try {
          ok = cond();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = this.clock.setTimeout(() => {
        done();
        reject(new RaftTimeoutError(`${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        this.progressListeners.delete(check);
        this.clock.clearTimeout(timer);
      };
      this.progressListeners.add(check);
    });
  }

  private onApplied(e: Entry, result: unknown): void {
    if (this.forwardsOut > 0) {
      this.recentlyApplied.set(e.index, { term: e.term, result });
      if (this.recentlyApplied.size > 1024)
        this.recentlyApplied.delete(this.recentlyApplied.keys().next().value as number);
    }
    const w = this.waiters.get(e.index);
    if (w) {
      this.waiters.delete(e.index);
      if (w.term === e.term) w.resolve({ index: e.index, result });
      else w.reject(new ProposalDroppedError(`entry ${e.index} was replaced by one from term ${e.term}`));
    }
    this.releaseReads();
  }

  private onConfChange(cc: ConfChange, e: Entry): void {
    if ((cc.type === 'addLearner' || cc.type === 'addVoter') && cc.context.length > 0) {
      const addr = Buffer.from(cc.context).toString('utf8');
      this.addresses.set(cc.nodeId, addr);
      this.transport.setPeer(cc.nodeId, addr);
    } else if (cc.type === 'remove') {
      if (cc.nodeId === this.id) {
        this.removed = true;
        this.log(`raft: this member (${this.id}) was removed from the cluster at index ${e.index}`);
        this.emit('removed');
      } else {
        this.addresses.delete(cc.nodeId);
        this.transport.removePeer(cc.nodeId);
      }
    }
    this.emit('membershipChange', cc);
  }

  private onSnapshotInstalled(index: number): void {
    for (const [i, w] of this.waiters) {
      if (i <= index) {
        this.waiters.delete(i);
        w.reject(new ProposalOutcomeUnknownError(`entry ${i} was superseded by a snapshot at ${index}`));
      }
    }
    this.releaseReads();
  }

  /** Called by the driver (constructor: from the disk's snapshot; later: a snapshot from the leader). */
  private restoreSnapshot(data: Uint8Array): void {
    const { addresses, sm } = decodeNodeSnapshot(data);
    for (const [id, addr] of addresses) {
      if (id === this.id) continue;
      this.addresses.set(id, addr);
      this.transport?.setPeer(id, addr);
    }
    this.sm.restore(sm);
  }

  private onStorageFault(fault: Error, info: { durableIndex: number; sentUpTo: number }): void {
    // Nothing after the durable log was applied here. Entries that already went to followers may still
    // commit there, so their fate is unknown rather than failed.
    for (const [index, w] of this.waiters) {
      if (index > info.durableIndex) {
        this.waiters.delete(index);
        w.reject(
          index <= info.sentUpTo
            ? new ProposalOutcomeUnknownError(
                `entry ${index} reached followers but not this disk: ${fault.message}`,
              )
            : fault,
        );
      }
    }
    for (const r of this.reads.values()) {
      this.clock.clearTimeout(r.timer);
      r.reject(fault);
    }
    this.reads.clear();
  }

  private answerReads(states: { index: number; context: Uint8Array }[]): void {
    for (const rs of states) {
      const key = Buffer.from(rs.context.buffer, rs.context.byteOffset, rs.context.byteLength).toString(
        'latin1',
      );
      const r = this.reads.get(key);
      if (!r) continue;
      this.reads.delete(key);
      this.clock.clearTimeout(r.timer);
      if (rs.index <= this.driver.applied) r.resolve(rs.index);
      else {
        this.readsAwaitingApply.push({ index: rs.index, resolve: r.resolve });
        this.readsAwaitingApply.sort((a, b) => a.index - b.index);
      }
    }
  }

  private releaseReads(): void {
    const q = this.readsAwaitingApply;
    const applied = this.driver?.applied ?? 0;
    let k = 0;
    for (; k < q.length && q[k].index <= applied; k++) q[k].resolve(q[k].index);
    if (k > 0) this.readsAwaitingApply = q.slice(k);
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    this.soft = { leader: s.leader, role: s.role };
    if (prev.leader !== s.leader) this.emit('leaderChange', s.leader, this.driver.core.raft.term);
    if (prev.role !== s.role) this.emit('roleChange', s.role as Role);
    if (prev.leader !== s.leader || prev.role !== s.role) {
      const e = this.leadership();
      for (const fn of this.leadershipListeners) fn(e);
    }
    if (prev.leader !== s.leader && this.reads.size > 0 && s.leader === NONE) {
      // A read forwarded to a leader that is gone would only time out; fail it now.
      for (const r of this.reads.values()) {
        this.clock.clearTimeout(r.timer);
        r.reject(this.notLeader());
      }
      this.reads.clear();
    }
  }
}

function checkId(id: unknown, field: string): void {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    throw new InvalidArgumentError(field, `must be a positive integer, got ${String(id)}`);
  }
}

function checkAddress(addr: unknown, field: string): void {
  if (typeof addr !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(addr) || Number(addr.split(':').pop()) > 65535) {
    throw new InvalidArgumentError(field, `must be host:port, got ${JSON.stringify(addr)}`);
  }
}

function validateOptions(o: RaftNodeOptions<unknown>): void {
  checkId(o.id, 'id');
  checkAddress(o.advertiseAddress, 'advertiseAddress');
  if (typeof o.dataDir !== 'string' || o.dataDir.length === 0) {
    throw new InvalidArgumentError('dataDir', 'must be a non-empty path');
  }
  for (const [i, p] of (o.bootstrap ?? []).entries()) {
    checkId(p.id, `bootstrap[${i}].id`);
    checkAddress(p.address, `bootstrap[${i}].address`);
  }
  const ids = (o.bootstrap ?? []).map((p) => p.id);
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('bootstrap', 'duplicate member ids');
  for (const k of ['tickMs', 'electionTicks', 'heartbeatTicks', 'snapshotEvery'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v <= 0)) {
      throw new InvalidArgumentError(k, `must be a positive integer, got ${v}`);
    }
  }
  if ((o.electionTicks ?? 10) <= (o.heartbeatTicks ?? 1)) {
    throw new InvalidArgumentError('electionTicks', 'must be greater than heartbeatTicks');
  }
}
