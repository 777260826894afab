// The raft node: drives the pure core with a tick timer, durable storage and the gRPC transport, and gives
// the state store its API (propose, readIndex, membership, leadership transfer, status, events).
//
// Ready handling, in order: persist (one WAL write + fsync for the whole batch) → send → apply committed
// entries → answer reads → advance. Work arriving while a batch is handled (proposals, peer messages) is
// stepped into the core and goes out in the next batch, so one fsync covers many proposals.
//
// A failed write (disk full, permission) never leaves the core believing in entries that are not durable:
// the core is rebuilt from what the disk holds (like a crash restart, but keeping the process), the
// proposals that were in the failed batch are rejected with the storage error, and new proposals are
// refused until a write succeeds again.
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { decodeConfChange, validateConfChange } from '../core/confchange.js';
import { RawNode } from '../core/rawnode.js';
import type {
  ConfChange,
  Entry,
  Message,
  NodeId,
  PeerProgress,
  Ready,
  Role,
  SoftState,
  Status,
} from '../core/types.js';
import { NONE, ProposalDroppedError } from '../core/types.js';
import { RaftTransport } from '../transport/transport.js';
import { DiskStorage } from '../wal/disk-storage.js';
import { StorageError, storageError } from '../wal/errors.js';
import type { WalStats } from '../wal/wal.js';
import { type Clock, systemClock } from './clock.js';
import {
  IdentityMismatchError,
  InvalidArgumentError,
  NodeStoppedError,
  NotLeaderError,
  ProposalOutcomeUnknownError,
  RaftTimeoutError,
} from './errors.js';
import { decodeMeta, decodeNodeSnapshot, encodeMeta, encodeNodeSnapshot } from './snapshot-codec.js';
import type { StateMachine } from './state-machine.js';

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
  stats: {
    readies: number;
    syncedWrites: number;
    entriesPersisted: number;
    persistMs: number;
    maxPersistMs: number;
    /** Snapshots taken by this node (encode, write and log compaction run on the event loop). */
    snapshots: number;
    maxSnapshotMs: number;
    wal: WalStats;
  };
}

export interface ProposeResult<R> {
  index: number;
  result: R;
}

interface Waiter {
  term: number;
  resolve: (r: ProposeResult<unknown>) => void;
  reject: (e: Error) => void;
}

interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
  timer: unknown;
}

export class RaftNode<R = unknown> extends EventEmitter {
  private core!: RawNode;
  private readonly storage: DiskStorage;
  private readonly transport: RaftTransport;
  private readonly sm: StateMachine<R>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: (msg: string) => void;
  private readonly addresses = new Map<NodeId, string>();
  private readonly waiters = new Map<number, Waiter>();
  private readonly reads = new Map<string, ReadWaiter>();
  /** Reads whose index is known but not yet applied, in index order. */
  private readsAwaitingApply: { index: number; resolve: (i: number) => void }[] = [];
  private readonly appliedListeners = new Set<() => void>();
  private applied = 0;
  private lastSnapshotIndex = 0;
  private snapshotRetryAt = 0;
  private scheduled = false;
  /** A Ready is being persisted; the next one waits for advance(). */
  private inReady = false;
  private stopped = false;
  private removed = false;
  private storageFault: StorageError | null = null;
  private soft: SoftState = { leader: NONE, role: 'follower' };
  private tickTimer: unknown = null;
  private readSeq = 0;
  /** Highest entry index sent to followers, possibly before it was durable here. */
  private sentUpTo = 0;
  private livenessScheduled = false;
  /** Counters for status(): how well writes are batched and what they cost. */
  private readonly stats = {
    readies: 0,
    syncedWrites: 0,
    entriesPersisted: 0,
    persistMs: 0,
    maxPersistMs: 0,
    snapshots: 0,
    maxSnapshotMs: 0,
  };
  private readonly o: Required<
    Pick<
      RaftNodeOptions,
      | 'tickMs'
      | 'electionTicks'
      | 'heartbeatTicks'
      | 'snapshotEvery'
      | 'keepEntries'
      | 'maxProposalBytes'
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
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
    this.o = {
      tickMs: opts.tickMs ?? 50,
      electionTicks: opts.electionTicks ?? 8,
      heartbeatTicks: opts.heartbeatTicks ?? 1,
      snapshotEvery: opts.snapshotEvery ?? 10_000,
      keepEntries: opts.keepEntries ?? 500,
      maxProposalBytes: opts.maxProposalBytes ?? 1024 * 1024,
      maxSizePerMsg: opts.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: opts.maxInflightMsgs ?? 256,
    };
    const bootstrapPeers = opts.bootstrap ?? [];
    this.storage = DiskStorage.open(opts.dataDir, {
      meta: encodeMeta({ id: opts.id, peers: bootstrapPeers.map((p) => [p.id, p.address]) }),
      fsync: opts.fsync,
      segmentBytes: opts.segmentBytes,
      log: this.log,
    });
    const meta = decodeMeta(this.storage.meta);
    if (meta && meta.id !== opts.id) {
      this.storage.close();
      throw new IdentityMismatchError(
        `data directory ${opts.dataDir} belongs to member ${meta.id}, not ${opts.id}`,
      );
    }
    for (const [id, addr] of meta?.peers ?? []) this.addresses.set(id, addr);
    this.addresses.set(opts.id, opts.advertiseAddress);

    const snap = this.storage.snapshot();
    if (snap.metadata.index > 0) {
      this.restoreSnapshot(snap.data);
      this.applied = snap.metadata.index;
      this.lastSnapshotIndex = snap.metadata.index;
    }

    this.transport = new RaftTransport({
      id: opts.id,
      advertiseAddress: opts.advertiseAddress,
      credentials: opts.credentials,
      random: this.random,
      log: this.log,
      handlers: {
        onMessage: (m) => this.onPeerMessage(m),
        onUnreachable: (id) => {
          if (!this.stopped) this.core.reportUnreachable(id);
        },
        onSnapshotStatus: (id, ok) => {
          if (this.stopped) return;
          this.core.reportSnapshot(id, ok);
          this.schedule();
        },
        onPeerAddress: (id, addr) => {
          if (!this.addresses.has(id)) {
            this.addresses.set(id, addr);
            this.transport.setPeer(id, addr);
          }
        },
      },
    });
    for (const [id, addr] of this.addresses) this.transport.setPeer(id, addr);

    this.core = this.newCore();
    if (!this.storage.restored && bootstrapPeers.length > 0 && !opts.join) {
      this.validateBootstrap(bootstrapPeers, opts.id);
      this.core.bootstrap(bootstrapPeers.map((p) => p.id));
    }
    this.soft = { leader: this.core.raft.softState().leader, role: this.core.raft.softState().role };
  }

  /** Opens the data directory (replaying the WAL), and starts ticking. */
  static start<R>(opts: RaftNodeOptions<R>): RaftNode<R> {
    validateOptions(opts);
    const node = new RaftNode(opts);
    node.scheduleTick();
    node.schedule();
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
    return this.applied;
  }

  /** Resolves once the entry is committed and applied here; rejects with a typed error otherwise. */
  propose(data: Uint8Array): Promise<ProposeResult<R>> {
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
    const refused = this.refuseWrite();
    if (refused) return Promise.reject(refused);
    let ticket: ReturnType<RawNode['propose']>;
    try {
      ticket = this.core.propose(data);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!ticket) return Promise.reject(this.notLeader());
    if (this.inReady) this.scheduleLiveness();
    return this.track(ticket) as Promise<ProposeResult<R>>;
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
      this.core.readIndex(ctx);
      this.schedule();
    });
  }

  status(): NodeStatus {
    const s = this.core.status();
    const members: Member[] = [
      ...s.config.voters.map((id) => ({ id, address: this.addresses.get(id), voter: true })),
      ...s.config.learners.map((id) => ({ id, address: this.addresses.get(id), voter: false })),
    ];
    return {
      ...s,
      applied: this.applied,
      members,
      snapshotIndex: this.lastSnapshotIndex,
      stats: { ...this.stats, wal: this.storage.walStats() },
      ...(this.storageFault ? { storageFault: this.storageFault.message } : {}),
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
    const cfg = this.core.status().config;
    if (!cfg.learners.includes(id)) throw new InvalidArgumentError('id', `member ${id} is not a learner`);
    const target = this.core.status().lastIndex;
    await this.waitFor(
      () => {
        if (this.soft.role !== 'leader') throw this.notLeader(); // lost leadership while waiting
        const p = this.core.status().progress[id];
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
    const s = this.core.status();
    if (!s.config.voters.includes(to)) throw new InvalidArgumentError('to', `member ${to} is not a voter`);
    if (s.leader === to) return;
    if (s.role !== 'leader' && s.leader === NONE) throw this.notLeader();
    this.core.transferLeadership(to);
    this.schedule();
    await this.waitFor(() => this.soft.leader === to, timeoutMs, `leadership did not move to ${to}`);
  }

  /** Starts an election now (tools and tests). */
  campaign(): void {
    this.core.campaign();
    this.schedule();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== null) this.clock.clearTimeout(this.tickTimer);
    const err = new NodeStoppedError('node stopped');
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const r of this.reads.values()) {
      this.clock.clearTimeout(r.timer);
      r.reject(err);
    }
    this.reads.clear();
    this.transport.close();
    this.storage.close();
    for (const l of this.appliedListeners) l();
  }

  // ---- internals ----

  private newCore(): RawNode {
    return new RawNode({
      id: this.id,
      electionTick: this.o.electionTicks,
      heartbeatTick: this.o.heartbeatTicks,
      storage: this.storage,
      // Entries applied ahead of this disk (see applyCommittedNow) are re-delivered later and skipped.
      applied: Math.min(this.applied, this.storage.lastIndex()),
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: this.o.maxSizePerMsg,
      maxInflightMsgs: this.o.maxInflightMsgs,
      maxUncommittedEntriesSize: 256 * 1024 * 1024,
      random: this.random,
      logger: this.log,
    });
  }

  private validateBootstrap(peers: { id: NodeId; address: string }[], self: NodeId): void {
    if (!peers.some((p) => p.id === self)) {
      throw new InvalidArgumentError('bootstrap', `must include this member (${self})`);
    }
  }

  private refuseWrite(): Error | null {
    if (this.stopped) return new NodeStoppedError('node stopped');
    if (this.storageFault) return this.storageFault;
    if (this.soft.role !== 'leader') return this.notLeader();
    return null;
  }

  private notLeader(): NotLeaderError {
    const l = this.soft.leader;
    return new NotLeaderError(l, l ? this.addresses.get(l) : undefined);
  }

  private track(ticket: { index: number; term: number }): Promise<ProposeResult<unknown>> {
    this.schedule();
    return new Promise((resolve, reject) => {
      this.waiters.set(ticket.index, { term: ticket.term, resolve, reject });
    });
  }

  private async proposeConfChange(cc: ConfChange): Promise<void> {
    const refused = this.refuseWrite();
    if (refused) throw refused;
    const why = validateConfChange(this.core.confState(), cc);
    if (why) throw new InvalidArgumentError('id', why);
    const ticket = this.core.proposeConfChange(cc);
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
        this.appliedListeners.delete(check);
        this.clock.clearTimeout(timer);
      };
      this.appliedListeners.add(check);
    });
  }

  private onPeerMessage(m: Message): void {
    if (this.stopped || m.to !== this.id) return;
    try {
      this.core.step(m);
    } catch (err) {
      this.log(`raft: step ${m.type} from ${m.from} failed: ${(err as Error).message}`);
      return;
    }
    if (this.inReady) {
      if (m.type === 'heartbeat') this.sendLiveness();
      else if (m.type === 'appResp' && this.soft.role === 'leader') {
        this.applyCommittedNow();
        this.scheduleLiveness();
      }
    }
    this.schedule();
  }

  /**
   * On the leader, acknowledgements can commit entries while the current Ready's fsync is still running.
   * Committed means durable on a majority, so they are applied (and their proposals answered) right away
   * instead of one fsync later; the core delivers them again in the next Ready, where they are skipped.
   * Stops before a conf change so the core's configuration always matches what was applied, and a
   * snapshot is only taken at an index that is also durable here.
   */
  private applyCommittedNow(): void {
    const log = this.core.raft.log;
    const hi = log.committed;
    if (hi <= this.applied) return;
    let ents: Entry[];
    try {
      ents = log.slice(this.applied + 1, hi + 1);
    } catch {
      return; // compacted: the next Ready delivers them
    }
    let n = 0;
    while (n < ents.length && ents[n].type !== 'confChange') n++;
    if (n > 0) this.applyEntries(ents, 0, n);
  }

  /**
   * While a slow fsync holds the current Ready, heartbeats (leader) and heartbeat responses (follower)
   * would wait for it and a disk stall would look like a dead member. They acknowledge nothing on disk,
   * so they are taken out of the core's outbox and sent at once — when the current term is already durable.
   */
  private sendLiveness(): void {
    const raft = this.core.raft;
    if (raft.msgs.length === 0 || raft.term !== this.storage.currentHardState().term) return;
    // A leader's appends may also go ahead of its own write: it counts itself only once durable.
    const leader = this.soft.role === 'leader';
    const urgent: Message[] = [];
    const keep: Message[] = [];
    for (const m of raft.msgs) {
      if (m.type === 'heartbeat' || m.type === 'heartbeatResp' || (leader && m.type === 'app'))
        urgent.push(m);
      else keep.push(m);
    }
    if (urgent.length === 0) return;
    raft.msgs = keep;
    this.noteSentEntries(urgent);
    this.transport.send(urgent);
  }

  /** Coalesces the early sends of one event-loop turn (many proposals) into one batch per follower. */
  private scheduleLiveness(): void {
    if (this.livenessScheduled) return;
    this.livenessScheduled = true;
    setImmediate(() => {
      this.livenessScheduled = false;
      if (this.inReady && !this.stopped) this.sendLiveness();
    });
  }

  /** Remembers the highest entry sent to followers before this member's own write of it. */
  private noteSentEntries(msgs: Message[]): void {
    for (const m of msgs) {
      const n = m.entries.length;
      if (n > 0 && m.entries[n - 1].index > this.sentUpTo) this.sentUpTo = m.entries[n - 1].index;
    }
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    this.tickTimer = this.clock.setTimeout(() => {
      this.tickTimer = null;
      if (this.stopped) return;
      this.core.tick();
      if (this.inReady) this.sendLiveness();
      this.schedule();
      for (const l of this.appliedListeners) l();
      this.scheduleTick();
    }, this.o.tickMs);
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.processReady();
    });
  }

  /**
   * Handles one Ready at a time. The WAL write is synchronous, its fsync runs in the thread pool; the
   * rest of the Ready (send, apply, advance) continues when the batch is durable. Meanwhile the event loop
   * keeps stepping messages and proposals into the core, which become the next (bigger) batch.
   */
  private processReady(): void {
    if (this.inReady || this.stopped || !this.core.hasReady()) return;
    const rd = this.core.ready();
    const core = this.core;
    this.inReady = true;
    const t0 = performance.now();
    const writes = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    // Committed entries already durable here can be applied while this Ready's writes are synced;
    // only entries that arrived in this very Ready must wait for the fsync.
    // (Entries this Ready rewrites are excluded even if an older version of them is durable.)
    const durable = Math.min(
      this.storage.lastIndex(),
      rd.entries.length > 0 ? rd.entries[0].index - 1 : Number.POSITIVE_INFINITY,
    );
    let early = 0;
    if (!rd.snapshot) {
      const ce = rd.committedEntries;
      while (early < ce.length && ce[early].index <= durable) early++;
    }
    // A leader's appends may go to followers before its own fsync (it counts itself only once its write
    // is durable), provided its term and vote are already on disk. Everything else waits.
    let sentEarly = false;
    let appliedEarly = 0;
    const finish = (err: StorageError | null) => {
      this.inReady = false;
      if (this.stopped || core !== this.core) return;
      if (err) {
        this.onStorageFault(err, sentEarly);
        this.schedule();
        return;
      }
      this.noteWrite(rd, writes, performance.now() - t0);
      this.completeReady(rd, appliedEarly, sentEarly);
      this.schedule();
    };
    try {
      if (rd.snapshot) {
        // Rare (a follower installing the leader's snapshot): done synchronously.
        this.storage.persist(rd.hardState, rd.entries, rd.snapshot, true);
        finish(null);
        return;
      }
      const pending = this.storage.persistAsync(rd.hardState, rd.entries, rd.mustSync, finish);
      if (!pending) return; // finished synchronously
      if (this.soft.role === 'leader' && this.termDurable(rd)) {
        sentEarly = this.sendLeaderAppends(rd);
      }
      if (early > 0) {
        this.applyEntries(rd.committedEntries, 0, early);
        appliedEarly = early;
      }
    } catch (err) {
      finish(
        err instanceof StorageError ? err : storageError('persist', this.storage.walSegments()[0] ?? '', err),
      );
    }
  }

  private termDurable(rd: Ready): boolean {
    if (!rd.hardState) return true;
    const d = this.storage.currentHardState();
    return rd.hardState.term === d.term && rd.hardState.vote === d.vote;
  }

  /** Sends the leader's append and heartbeat messages now; returns whether any carried entries. */
  private sendLeaderAppends(rd: Ready): boolean {
    const now: Message[] = [];
    const later: Message[] = [];
    let entries = false;
    for (const m of rd.messages) {
      if (m.type === 'app' || m.type === 'heartbeat') {
        now.push(m);
        if (m.entries.length > 0) entries = true;
      } else later.push(m);
    }
    if (now.length === 0) return false;
    this.noteSentEntries(now);
    this.transport.send(now);
    rd.messages = later;
    return entries;
  }

  private completeReady(rd: Ready, appliedEarly: number, _sentEarly: boolean): void {
    if (this.listenerCount('trace') > 0) {
      this.emit('trace', {
        entries: rd.entries.length,
        committed: rd.committedEntries.length,
        appliedEarly,
        messages: rd.messages.length,
        mustSync: rd.mustSync,
        hardState: rd.hardState,
      });
    }
    this.transport.send(rd.messages);
    if (rd.snapshot) this.installSnapshot(rd.snapshot.metadata.index, rd.snapshot.data);
    if (rd.committedEntries.length > appliedEarly) {
      this.applyEntries(rd.committedEntries, appliedEarly, rd.committedEntries.length);
    }
    if (rd.readStates.length > 0) this.answerReads(rd.readStates);
    this.core.advance();
    if (rd.softState) this.onSoftState(rd.softState);
    this.maybeSnapshot();
    for (const l of this.appliedListeners) l();
  }

  private noteWrite(rd: Ready, writes: boolean, ms: number): void {
    const st = this.stats;
    st.readies++;
    if (writes && rd.mustSync) st.syncedWrites++;
    st.entriesPersisted += rd.entries.length;
    st.persistMs += ms;
    if (ms > st.maxPersistMs) st.maxPersistMs = ms;
    if (writes && this.storageFault) {
      this.log(`raft: storage writes succeed again after: ${this.storageFault.message}`);
      this.storageFault = null;
    }
  }

  private onStorageFault(fault: StorageError, sentEarly = false): void {
    if (!this.storageFault) {
      this.log(`raft: storage write failed, refusing writes until it recovers: ${fault.message}`);
    }
    this.storageFault = fault;
    // Nothing after the durable log was applied here: forget it, exactly as a crash would. If the entries
    // already went to followers they may still commit there, so their fate is unknown rather than failed.
    const durable = this.storage.lastIndex();
    for (const [index, w] of this.waiters) {
      if (index > durable) {
        this.waiters.delete(index);
        w.reject(
          sentEarly || index <= this.sentUpTo
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
    this.core = this.newCore();
    this.inReady = false;
    this.sentUpTo = durable;
    const s = this.core.raft.softState();
    this.onSoftState({ leader: s.leader, role: s.role });
  }

  private applyEntries(ents: Entry[], from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const e = ents[i];
      if (e.index <= this.applied) continue;
      let result: unknown;
      if (e.type === 'confChange') this.applyConfChange(e);
      else if (e.data.length > 0) result = this.sm.apply(e.data, e.index);
      this.applied = e.index;
      const w = this.waiters.get(e.index);
      if (w) {
        this.waiters.delete(e.index);
        if (w.term === e.term) w.resolve({ index: e.index, result });
        else w.reject(new ProposalDroppedError(`entry ${e.index} was replaced by one from term ${e.term}`));
      }
    }
    this.releaseReads();
  }

  private applyConfChange(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch (err) {
      this.log(`raft: skipping undecodable conf change at ${e.index}: ${(err as Error).message}`);
      return;
    }
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

  private installSnapshot(index: number, data: Uint8Array): void {
    this.restoreSnapshot(data);
    this.applied = index;
    this.lastSnapshotIndex = index;
    for (const [i, w] of this.waiters) {
      if (i <= index) {
        this.waiters.delete(i);
        w.reject(new ProposalOutcomeUnknownError(`entry ${i} was superseded by a snapshot at ${index}`));
      }
    }
    this.releaseReads();
  }

  private restoreSnapshot(data: Uint8Array): void {
    const { addresses, sm } = decodeNodeSnapshot(data);
    for (const [id, addr] of addresses) {
      if (id === this.id) continue;
      this.addresses.set(id, addr);
      this.transport?.setPeer(id, addr);
    }
    this.sm.restore(sm);
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
      if (rs.index <= this.applied) r.resolve(rs.index);
      else {
        this.readsAwaitingApply.push({ index: rs.index, resolve: r.resolve });
        this.readsAwaitingApply.sort((a, b) => a.index - b.index);
      }
    }
  }

  private releaseReads(): void {
    const q = this.readsAwaitingApply;
    let k = 0;
    for (; k < q.length && q[k].index <= this.applied; k++) q[k].resolve(q[k].index);
    if (k > 0) this.readsAwaitingApply = q.slice(k);
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    this.soft = { leader: s.leader, role: s.role };
    if (prev.leader !== s.leader) this.emit('leaderChange', s.leader, this.core.raft.term);
    if (prev.role !== s.role) this.emit('roleChange', s.role as Role);
    if (prev.leader !== s.leader && this.reads.size > 0 && s.leader === NONE) {
      // A read forwarded to a leader that is gone would only time out; fail it now.
      for (const r of this.reads.values()) {
        this.clock.clearTimeout(r.timer);
        r.reject(this.notLeader());
      }
      this.reads.clear();
    }
  }

  private maybeSnapshot(): void {
    if (this.applied - this.lastSnapshotIndex < this.o.snapshotEvery) return;
    if (this.applied > this.storage.lastIndex()) return; // applied ahead of this disk: wait for the write
    const now = this.clock.now();
    if (now < this.snapshotRetryAt) return;
    const t0 = performance.now();
    try {
      const data = encodeNodeSnapshot(this.addresses, this.sm.snapshot());
      // The core may not have acknowledged entries applied early (applyCommittedNow): keep them.
      const coreApplied = this.core.raft.log.applied;
      this.storage.createSnapshot(this.applied, this.core.confState(), data, this.o.keepEntries, coreApplied);
      this.lastSnapshotIndex = this.applied;
      const ms = performance.now() - t0;
      this.stats.snapshots++;
      if (ms > this.stats.maxSnapshotMs) this.stats.maxSnapshotMs = ms;
    } catch (err) {
      // Not fatal: the log just stays longer. Try again a little later.
      this.snapshotRetryAt = now + 1000;
      this.log(`raft: snapshot at ${this.applied} failed: ${(err as Error).message}`);
    }
  }

  get isRemoved(): boolean {
    return this.removed;
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
