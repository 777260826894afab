import { decodeConfChange } from '../core/confchange.js';
import { RawNode } from '../core/rawnode.js';
import { MemoryStorage } from '../core/storage.js';
import type { Config, Entry, Message, NodeId, ReadState, Ready } from '../core/types.js';
import { SafetyChecker } from './checker.js';
import { SimDisk } from './disk.js';
import type { Rng } from './prng.js';

/** The replicated application. The simulator restores it from snapshots after crashes. */
export interface StateMachine {
  apply(e: Entry): void;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export interface SimNode {
  id: NodeId;
  raw: RawNode;
  disk: SimDisk;
  sm: StateMachine;
  up: boolean;
  /** Removed from the cluster and shut down for good. */
  retired: boolean;
  /** A Ready written to the page cache, waiting for its fsync to complete at syncAt. */
  pending?: { rd: Ready; syncAt: number; overwroteAt?: number };
  appliedIndex: number;
  snapIndex: number;
  /** Process pause: no ticks until this time. */
  pausedUntil: number;
  /** Clock skew: the chance that this node's timer fires on a given tick of simulated time. */
  tickRate: number;
  leaderAtTerm?: number;
  /** Commit index seen in this incarnation, and the durable term across incarnations: neither goes back. */
  lastCommit: number;
  durableTerm: number;
}

export interface NetProfile {
  dropRate: number;
  dupRate: number;
  /** Delivery delay is uniform in [1, maxDelay] ticks, which also reorders messages. */
  maxDelay: number;
}

export interface ClusterOptions {
  rng: Rng;
  net: NetProfile;
  makeStateMachine: () => StateMachine;
  /** Applied entries per snapshot; entries kept after compaction. */
  snapshotInterval: number;
  snapshotKeep: number;
  maxSyncDelay: number;
  raft?: Partial<Config>;
  /** Injected bug: fsync is a no-op except every n-th call. */
  lyingDiskEvery?: number;
  /** Check that votes and acknowledged entries are durable before they are sent (default on). */
  checkDurability?: boolean;
  onApply?: (node: SimNode, e: Entry) => void;
  onReadState?: (node: SimNode, rs: ReadState) => void;
  log?: (line: string) => void;
}

interface InFlight {
  m: Message;
  sender: RawNode;
}

/** N cores over a virtual network and virtual disks, one tick per step, all choices from one seeded Rng. */
export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new SafetyChecker();
  now = 0;
  private queue = new Map<number, InFlight[]>();
  private queued = 0;
  /** Directed links that drop everything ("a>b"). */
  readonly blocked = new Set<string>();
  stats = { messages: 0, dropped: 0, snapshotsSent: 0, snapshotsMade: 0, crashes: 0, restarts: 0 };

  constructor(readonly opts: ClusterOptions) {}

  private config(id: NodeId, storage: MemoryStorage): Config {
    return {
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 256,
      maxInflightMsgs: 8,
      maxUncommittedEntriesSize: 1 << 16,
      random: this.opts.rng.fork().next,
      ...this.opts.raft,
    };
  }

  /** Adds a node with empty storage: bootstrapped with `voters`, or waiting to be added by the leader. */
  addNode(id: NodeId, bootstrapVoters?: NodeId[]): SimNode {
    const storage = new MemoryStorage();
    const raw = new RawNode(this.config(id, storage));
    if (bootstrapVoters) raw.bootstrap(bootstrapVoters);
    const node: SimNode = {
      id,
      raw,
      disk: new SimDisk(storage, this.opts.lyingDiskEvery ?? 0),
      sm: this.opts.makeStateMachine(),
      up: true,
      retired: false,
      appliedIndex: 0,
      snapIndex: 0,
      pausedUntil: 0,
      tickRate: 1 - this.opts.rng.next() * 0.2,
      lastCommit: 0,
      durableTerm: 0,
    };
    this.nodes.set(id, node);
    return node;
  }

  crash(node: SimNode): void {
    if (!node.up) return;
    node.up = false;
    node.pending = undefined;
    this.stats.crashes++;
    this.opts.log?.(`t=${this.now} crash ${node.id}`);
  }

  restart(node: SimNode): void {
    if (node.up || node.retired) return;
    const storage = node.disk.recover();
    node.raw = new RawNode(this.config(node.id, storage));
    node.sm = this.opts.makeStateMachine();
    const snap = storage.snapshot();
    if (snap.metadata.index > 0) node.sm.restore(snap.data);
    node.appliedIndex = snap.metadata.index;
    node.snapIndex = snap.metadata.index;
    node.leaderAtTerm = undefined;
    node.lastCommit = 0;
    node.up = true;
    this.stats.restarts++;
    this.opts.log?.(`t=${this.now} restart ${node.id} (snapshot ${snap.metadata.index})`);
  }

  retire(node: SimNode): void {
    this.crash(node);
    node.retired = true;
  }

  linkOk(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  private send(sender: SimNode, m: Message): void {
    this.stats.messages++;
    const rng = this.opts.rng;
    const copies = rng.chance(this.opts.net.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const lost = !this.linkOk(m.from, m.to) || rng.chance(this.opts.net.dropRate);
      if (m.type === 'snap') this.stats.snapshotsSent++;
      if (lost) {
        this.stats.dropped++;
        if (m.type === 'snap') sender.raw.reportSnapshot(m.to, false);
        else if (m.type === 'app' && !this.linkOk(m.from, m.to)) sender.raw.reportUnreachable(m.to);
        continue;
      }
      // A growing backlog means messages beget messages without progress (a bug); stop before memory runs out.
      if (++this.queued > 10_000)
        this.checker.fail('liveness', `message storm: ${this.queued} messages in flight`);
      const at = this.now + 1 + rng.int(this.opts.net.maxDelay);
      const bucket = this.queue.get(at);
      if (bucket) bucket.push({ m, sender: sender.raw });
      else this.queue.set(at, [{ m, sender: sender.raw }]);
    }
  }

  /** The leader with the highest term among running nodes. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (!n.up || n.raw.raft.role !== 'leader') continue;
      if (!best || n.raw.raft.term > best.raw.raft.term) best = n;
    }
    return best;
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** One tick of virtual time: ticks, deliveries, disk completions, then the safety checks. */
  step(): void {
    this.now++;
    this.checker.step = this.now;
    const rng = this.opts.rng;
    const up = this.upNodes();
    for (const n of up) if (n.pausedUntil <= this.now && rng.chance(n.tickRate)) n.raw.tick();
    const due = this.queue.get(this.now);
    if (due) {
      this.queue.delete(this.now);
      this.queued -= due.length;
      // Same-tick deliveries in random order.
      for (let i = due.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [due[i], due[j]] = [due[j], due[i]];
      }
      for (const { m, sender } of due) {
        const to = this.nodes.get(m.to);
        const ok = to?.up && this.linkOk(m.from, m.to);
        if (m.type === 'snap') {
          const from = this.nodes.get(m.from);
          if (from?.up && from.raw === sender) sender.reportSnapshot(m.to, !!ok);
        }
        if (!to || !ok || to.pausedUntil > this.now) continue;
        to.raw.step(m);
      }
    }
    for (const n of up) this.pump(n);
    for (const n of up) {
      if (!n.up) continue;
      const r = n.raw.raft;
      this.checker.observeRole(n.id, r, n.leaderAtTerm);
      if (r.role === 'leader' && n.leaderAtTerm !== r.term) {
        this.opts.log?.(
          `t=${this.now} node ${n.id} leads term ${r.term} (last ${r.log.lastIndex()}, commit ${r.log.committed})`,
        );
      }
      n.leaderAtTerm = r.role === 'leader' ? r.term : undefined;
      if (r.log.committed < n.lastCommit) {
        this.checker.fail(
          'monotonicity',
          `node ${n.id} commit index went back from ${n.lastCommit} to ${r.log.committed}`,
        );
      }
      n.lastCommit = r.log.committed;
    }
  }

  /** Runs the node's Ready loop as far as its disk allows this tick. */
  pump(n: SimNode): void {
    for (let guard = 0; guard < 100; guard++) {
      if (n.pending) {
        if (n.pending.syncAt > this.now) return;
        this.complete(n, n.pending.rd, n.pending.overwroteAt);
        n.pending = undefined;
      }
      if (!n.up || !n.raw.hasReady()) return;
      const rd = n.raw.ready();
      const s = n.disk.storage;
      const overwroteAt = overwriteIndex(rd, s.lastIndex());
      if (rd.snapshot) s.applySnapshot(rd.snapshot);
      s.append(rd.entries);
      if (rd.hardState) s.setHardState(rd.hardState);
      this.checker.observeAppend(n.id, rd, (i) => {
        if (i < s.firstIndex() - 1 || i > s.lastIndex()) return undefined;
        return s.term(i);
      });
      const needsSync = rd.mustSync || rd.snapshot !== undefined || rd.hardState !== undefined;
      const delay = needsSync ? this.opts.rng.int(this.opts.maxSyncDelay + 1) : 0;
      n.pending = { rd, syncAt: this.now + delay, overwroteAt };
    }
  }

  /** fsync done: send, apply, advance (the Ready contract's order). */
  private complete(n: SimNode, rd: Ready, overwroteAt: number | undefined): void {
    n.disk.sync();
    const term = n.disk.durable().hardState.term;
    if (term < n.durableTerm)
      this.checker.fail('monotonicity', `node ${n.id} persisted term ${term} < ${n.durableTerm}`);
    n.durableTerm = term;
    if (this.opts.checkDurability !== false) {
      this.checker.checkDurableBeforeSend(n.id, rd.messages, n.disk.durable(), overwroteAt);
    }
    for (const m of rd.messages) this.send(n, m);
    if (rd.snapshot) {
      n.sm.restore(rd.snapshot.data);
      n.appliedIndex = rd.snapshot.metadata.index;
      n.snapIndex = n.appliedIndex;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) {
        this.checker.fail('apply-order', `node ${n.id} applied ${e.index} after ${n.appliedIndex}`);
      }
      this.checker.observeApply(n.id, e);
      n.appliedIndex = e.index;
      if (e.type === 'normal' && e.data.length > 0) n.sm.apply(e);
      if (e.type === 'confChange' && this.opts.log) {
        const cc = decodeConfChange(e.data);
        this.opts.log(`t=${this.now} node ${n.id} applies ${cc.type} ${cc.nodeId} at ${e.index}`);
      }
      this.opts.onApply?.(n, e);
    }
    for (const rs of rd.readStates) this.opts.onReadState?.(n, rs);
    n.raw.advance();
    this.maybeSnapshot(n);
  }

  private maybeSnapshot(n: SimNode): void {
    if (n.appliedIndex - n.snapIndex < this.opts.snapshotInterval) return;
    const s = n.disk.storage;
    const snap = s.createSnapshot(n.appliedIndex, n.raw.confState(), n.sm.snapshot());
    const compactTo = n.appliedIndex - this.opts.snapshotKeep;
    if (compactTo >= s.firstIndex()) s.compact(compactTo);
    n.disk.saveSnapshot(snap);
    n.snapIndex = n.appliedIndex;
    this.stats.snapshotsMade++;
  }
}

/** The lowest index a Ready replaces in the log already written (a conflicting append or a snapshot). */
export function overwriteIndex(rd: Ready, lastWritten: number): number | undefined {
  if (rd.snapshot) return rd.snapshot.metadata.index + 1;
  const first = rd.entries[0]?.index;
  return first !== undefined && first <= lastWritten ? first : undefined;
}
