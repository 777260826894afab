import { decodeConfChange } from '../core/confchange.js';
import type { RawNode } from '../core/rawnode.js';
import { MemoryStorage } from '../core/storage.js';
import type { Config, Entry, Message, NodeId, ReadState } from '../core/types.js';
import type { Clock } from '../node/clock.js';
import { type Application, RaftDriver, type UnsafeMutations } from '../node/driver.js';
import { SafetyChecker } from './checker.js';
import { SimDisk, SimStorage } from './disk.js';
import type { Rng } from './prng.js';

/** The replicated application. The simulator restores it from snapshots after crashes. */
export interface StateMachine extends Application {
  apply(e: Entry): void;
}

/** One member: the production driver (RaftDriver) over a simulated disk and network. */
export class SimNode {
  driver!: RaftDriver;
  storage!: SimStorage;
  sm!: StateMachine;
  up = true;
  /** Removed from the cluster and shut down for good. */
  retired = false;
  /** Process pause: no ticks and no deliveries until this time. */
  pausedUntil = 0;
  leaderAtTerm?: number;
  /** Commit index seen in this incarnation, and the durable term across incarnations: neither goes back. */
  lastCommit = 0;
  durableTerm = 0;
  /** The last index this incarnation applied (or restored), for the in-order check. */
  lastApplied = 0;
  /** Founding voters: a restart with nothing on disk bootstraps again, as RaftNode does. */
  founders?: NodeId[];

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    /** Clock skew: the chance that this node's timer fires on a given tick of simulated time. */
    readonly tickRate: number,
  ) {}

  /** The core inside the driver (rebuilt after a storage fault). */
  get raw(): RawNode {
    return this.driver.core;
  }

  get appliedIndex(): number {
    return this.driver.applied;
  }
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
  /** Chance that a write fails (the driver then rebuilds its core from the disk). Mutable: the calm phase sets 0. */
  writeFaultRate?: number;
  raft?: Partial<Config>;
  /** Injected bug: fsync is a no-op except every n-th call. */
  lyingDiskEvery?: number;
  /** Injected driver bugs (test-only), to show the checkers catch them. */
  unsafe?: UnsafeMutations;
  /** Check that votes and acknowledged entries are durable before they are sent (default on). */
  checkDurability?: boolean;
  onApply?: (node: SimNode, e: Entry) => void;
  onReadState?: (node: SimNode, rs: ReadState) => void;
  log?: (line: string) => void;
}

interface InFlight {
  m: Message;
  sender: RaftDriver;
}

/**
 * N production drivers over a virtual network and virtual disks, one tick per step, all choices from one
 * seeded Rng. Deferred work (the drivers' scheduler) and timers (fsync completions) run in order within a step.
 */
export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new SafetyChecker();
  now = 0;
  private queue = new Map<number, InFlight[]>();
  private queued = 0;
  private deferred: (() => void)[] = [];
  private timers = new Map<number, (() => void)[]>();
  /** Directed links that drop everything ("a>b"). */
  readonly blocked = new Set<string>();
  stats = {
    messages: 0,
    dropped: 0,
    snapshotsSent: 0,
    snapshotsMade: 0,
    crashes: 0,
    restarts: 0,
    writeFaults: 0,
    earlyMessages: 0,
    earlyApplies: 0,
  };
  private readonly clock: Clock = {
    now: () => this.now,
    setTimeout: (fn, ms) => this.at(this.now + Math.max(0, Math.ceil(ms)), fn),
    clearTimeout: () => {},
  };

  constructor(readonly opts: ClusterOptions) {}

  /** Runs fn at simulated time t (within the step that reaches t). */
  at(t: number, fn: () => void): void {
    const bucket = this.timers.get(t);
    if (bucket) bucket.push(fn);
    else this.timers.set(t, [fn]);
  }

  private raftConfig(): Omit<Config, 'id' | 'storage' | 'applied'> {
    return {
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 256,
      maxInflightMsgs: 8,
      maxUncommittedEntriesSize: 1 << 16,
      random: this.opts.rng.fork().next,
      ...this.opts.raft,
    };
  }

  /** Starts an incarnation of `n` over its disk's current contents. */
  private boot(n: SimNode): void {
    const storage = new SimStorage(n.disk, {
      rng: this.opts.rng,
      maxSyncDelay: this.opts.maxSyncDelay,
      faultRate: () => this.opts.writeFaultRate ?? 0,
      now: () => this.now,
      at: (t, fn) => this.at(t, fn),
      observeAppend: (entries, termAt) => this.checker.observeAppend(n.id, entries, termAt),
      onSync: () => {
        const term = n.disk.durable().hardState.term;
        if (term < n.durableTerm)
          this.checker.fail('monotonicity', `node ${n.id} persisted term ${term} < ${n.durableTerm}`);
        n.durableTerm = term;
      },
      onFault: () => {
        this.stats.writeFaults++;
        this.opts.log?.(`t=${this.now} node ${n.id} write failed`);
      },
      onSnapshot: () => this.stats.snapshotsMade++,
    });
    n.storage = storage;
    n.sm = this.opts.makeStateMachine();
    n.driver = new RaftDriver({
      id: n.id,
      storage,
      transport: { send: (ms) => this.transmit(n, ms) },
      clock: this.clock,
      scheduler: { defer: (fn) => void this.deferred.push(fn) },
      app: n.sm,
      raft: this.raftConfig(),
      snapshotEvery: this.opts.snapshotInterval,
      keepEntries: this.opts.snapshotKeep,
      unsafe: this.opts.unsafe,
      hooks: {
        applied: (e) => this.onApplied(n, e),
        snapshotInstalled: (index) => {
          n.lastApplied = index;
        },
        // The core is rebuilt from the disk, as after a restart: its commit index restarts from there,
        // but never below what this node applied.
        storageFault: () => {
          n.lastCommit = n.driver.applied;
        },
        readStates: (rs) => {
          for (const r of rs) this.opts.onReadState?.(n, r);
        },
      },
    });
    n.lastApplied = n.driver.applied;
  }

  /** Adds a node with empty storage: bootstrapped with `voters`, or waiting to be added by the leader. */
  addNode(id: NodeId, bootstrapVoters?: NodeId[]): SimNode {
    const n = new SimNode(
      id,
      new SimDisk(new MemoryStorage(), this.opts.lyingDiskEvery ?? 0),
      1 - this.opts.rng.next() * 0.2,
    );
    this.boot(n);
    n.founders = bootstrapVoters;
    if (bootstrapVoters) n.driver.bootstrap(bootstrapVoters);
    this.nodes.set(id, n);
    return n;
  }

  crash(node: SimNode): void {
    if (!node.up) return;
    node.up = false;
    node.driver.stop();
    node.storage.crash();
    this.stats.crashes++;
    this.opts.log?.(`t=${this.now} crash ${node.id}`);
  }

  restart(node: SimNode): void {
    if (node.up || node.retired) return;
    const s = node.disk.recover();
    this.boot(node);
    if (node.founders && s.lastIndex() === 0 && s.initialState().hardState.term === 0) {
      node.driver.bootstrap(node.founders);
    }
    node.leaderAtTerm = undefined;
    node.lastCommit = 0;
    node.up = true;
    this.stats.restarts++;
    this.opts.log?.(`t=${this.now} restart ${node.id} (snapshot ${node.driver.snapshotIndex})`);
  }

  retire(node: SimNode): void {
    this.crash(node);
    node.retired = true;
  }

  linkOk(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  private onApplied(n: SimNode, e: Entry): void {
    if (e.index !== n.lastApplied + 1) {
      this.checker.fail('apply-order', `node ${n.id} applied ${e.index} after ${n.lastApplied}`);
    }
    if (e.index > n.raw.raft.log.committed) {
      this.checker.fail(
        'early-apply',
        `node ${n.id} applied ${e.index} with commit index ${n.raw.raft.log.committed}`,
      );
    }
    n.lastApplied = e.index;
    this.checker.observeApply(n.id, e);
    if (e.type === 'confChange' && this.opts.log) {
      const cc = decodeConfChange(e.data);
      this.opts.log(`t=${this.now} node ${n.id} applies ${cc.type} ${cc.nodeId} at ${e.index}`);
    }
    this.opts.onApply?.(n, e);
  }

  /** The driver's transport: every message is checked against the disk at the moment it leaves. */
  private transmit(n: SimNode, ms: Message[]): void {
    if (!n.up) return;
    if (this.opts.checkDurability !== false) {
      this.checker.checkDurableBeforeSend(n.id, ms, n.disk.durable());
    }
    for (const m of ms) this.send(n, m);
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
        if (m.type === 'snap') sender.driver.reportSnapshot(m.to, false);
        else if (m.type === 'app' && !this.linkOk(m.from, m.to)) sender.driver.reportUnreachable(m.to);
        continue;
      }
      // A growing backlog means messages beget messages without progress (a bug); stop before memory runs out.
      if (++this.queued > 10_000)
        this.checker.fail('liveness', `message storm: ${this.queued} messages in flight`);
      const at = this.now + 1 + rng.int(this.opts.net.maxDelay);
      const bucket = this.queue.get(at);
      if (bucket) bucket.push({ m, sender: sender.driver });
      else this.queue.set(at, [{ m, sender: sender.driver }]);
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

  /** One tick of virtual time: ticks, deliveries, deferred work and disk completions, then the checks. */
  step(): void {
    this.now++;
    this.checker.step = this.now;
    const rng = this.opts.rng;
    const up = this.upNodes();
    for (const n of up) if (n.pausedUntil <= this.now && rng.chance(n.tickRate)) n.driver.tick();
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
          if (from?.up && from.driver === sender) sender.reportSnapshot(m.to, !!ok);
        }
        if (!to || !ok || to.pausedUntil > this.now) continue;
        to.driver.step(m);
      }
    }
    // Work the nemesis and clients started on the cores directly also gets its Ready processed.
    for (const n of up) if (n.up) n.driver.schedule();
    this.drain();
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
    this.stats.earlyMessages = 0;
    this.stats.earlyApplies = 0;
    for (const n of this.nodes.values()) {
      this.stats.earlyMessages += n.driver.stats.earlyMessages;
      this.stats.earlyApplies += n.driver.stats.earlyApplies;
    }
  }

  /** Runs deferred work and due timers until nothing is left for this step. */
  private drain(): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const fn = this.deferred.shift();
      if (fn) {
        fn();
        continue;
      }
      const t = this.nextTimer();
      if (t === undefined) return;
      const fns = this.timers.get(t)!;
      this.timers.delete(t);
      this.deferred.push(...fns);
    }
    this.checker.fail('liveness', 'deferred work does not settle within a step');
  }

  private nextTimer(): number | undefined {
    let min: number | undefined;
    for (const t of this.timers.keys()) if (t <= this.now && (min === undefined || t < min)) min = t;
    return min;
  }
}
