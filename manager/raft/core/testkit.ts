// A synchronous in-memory cluster for unit tests of the core. Each node runs the production Ready loop
// (RaftDriver) over a MemoryStorage whose writes are durable at once, with a per-node work queue drained by
// process(): no timers, no clock.
import { type DriverStorage, type LogWrite, RaftDriver } from '../node/driver.js';
import { mulberry32 } from '../sim/prng.js';
import type { RawNode } from './rawnode.js';
import { MemoryStorage, MemoryStorageReads } from './storage.js';
import type { Config, ConfState, Entry, Message, NodeId, ReadState } from './types.js';

export interface TestNode {
  id: NodeId;
  driver: RaftDriver;
  /** The driver's core (tests may call it directly; process() then runs the Ready loop). */
  readonly node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  queue: (() => void)[];
}

/** MemoryStorage as driver storage: every write is durable when it returns. */
export class InstantStorage extends MemoryStorageReads implements DriverStorage {
  constructor(readonly mem: MemoryStorage) {
    super();
  }
  write(w: LogWrite, done: (err: Error | null) => void): void {
    if (w.snapshot) this.mem.applySnapshot(w.snapshot);
    this.mem.append(w.entries);
    if (w.hardState) this.mem.setHardState(w.hardState);
    done(null);
  }
  saveSnapshot(index: number, cs: ConfState, data: Uint8Array, keep: number, limit: number): void {
    this.mem.createSnapshot(index, cs, data);
    const to = Math.min(index - keep, limit);
    if (to >= this.mem.firstIndex()) this.mem.compact(to);
  }
}

export type Filter = (m: Message) => boolean;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages in flight; deliver() empties it. */
  inflight: Message[] = [];
  /** Return false to drop a message. */
  filter: Filter = () => true;
  readonly sent: Message[] = [];
  private seed = 1;

  constructor(
    ids: NodeId[],
    private readonly overrides: Partial<Config> = {},
  ) {
    for (const id of ids) this.add(id, true, ids);
  }

  config(id: NodeId, storage: MemoryStorage): Config {
    return {
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      preVote: false,
      checkQuorum: false,
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 0,
      random: mulberry32(id * 7919 + this.seed++),
      ...this.overrides,
    };
  }

  /** Adds a node; with bootstrap, it starts a new cluster with `voters`, else it waits to be added. */
  add(id: NodeId, bootstrap: boolean, voters: NodeId[] = [], storage = new MemoryStorage()): TestNode {
    const tn = this.makeNode(id, storage);
    if (bootstrap) tn.driver.bootstrap(voters);
    this.nodes.set(id, tn);
    this.process(tn);
    return tn;
  }

  private makeNode(id: NodeId, storage: MemoryStorage): TestNode {
    const { id: _id, storage: _s, applied: _a, ...raft } = this.config(id, storage);
    const queue: (() => void)[] = [];
    const tn = { id, storage, applied: [], readStates: [], queue } as unknown as TestNode;
    const driver = new RaftDriver({
      id,
      storage: new InstantStorage(storage),
      transport: {
        send: (ms) => {
          for (const m of ms) {
            this.sent.push(m);
            if (this.filter(m)) this.inflight.push(m);
          }
        },
      },
      clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} },
      scheduler: { defer: (fn) => void queue.push(fn) },
      app: { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => {} },
      raft,
      snapshotEvery: Number.MAX_SAFE_INTEGER,
      keepEntries: 0,
      hooks: {
        applied: (e) => tn.applied.push(e),
        readStates: (rs) => tn.readStates.push(...rs),
        snapshotInstalled: () => {
          tn.applied = [];
        },
      },
    });
    Object.assign(tn, { driver });
    Object.defineProperty(tn, 'node', { get: () => driver.core });
    return tn;
  }

  /** Restarts a node from its storage (which holds everything that was persisted). */
  restart(id: NodeId): TestNode {
    const old = this.get(id);
    old.driver.stop();
    const tn = this.makeNode(id, old.storage);
    this.nodes.set(id, tn);
    this.process(tn);
    return tn;
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Runs the node's Ready loop (the driver's) until it has nothing left to do. */
  process(tn: TestNode): void {
    tn.driver.schedule();
    for (let fn = tn.queue.shift(); fn; fn = tn.queue.shift()) fn();
  }

  processAll(): void {
    for (const tn of this.nodes.values()) this.process(tn);
  }

  /** Delivers messages until none are left (or maxRounds). */
  stabilize(maxRounds = 1000): void {
    this.processAll();
    for (let i = 0; i < maxRounds && this.inflight.length > 0; i++) {
      const batch = this.inflight;
      this.inflight = [];
      for (const m of batch) {
        const tn = this.nodes.get(m.to);
        if (!tn) continue;
        tn.node.step(m);
        this.process(tn);
      }
    }
  }

  tick(id: NodeId, n = 1): void {
    const tn = this.get(id);
    for (let i = 0; i < n; i++) tn.driver.tick();
    this.process(tn);
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const id of this.nodes.keys()) this.tick(id);
  }

  campaign(id: NodeId): void {
    const tn = this.get(id);
    tn.node.campaign();
    this.process(tn);
    this.stabilize();
  }

  leader(): TestNode | undefined {
    let found: TestNode | undefined;
    let term = -1;
    for (const tn of this.nodes.values()) {
      const st = tn.node.status();
      if (st.role === 'leader' && st.term > term) {
        found = tn;
        term = st.term;
      }
    }
    return found;
  }

  propose(id: NodeId, text: string) {
    const tn = this.get(id);
    const t = tn.node.propose(new TextEncoder().encode(text));
    this.process(tn);
    return t;
  }

  /** Application payloads applied by a node, as strings (no-ops and conf changes left out). */
  data(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === 'normal' && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }

  /** Isolates a node: messages to and from it are dropped. */
  isolate(id: NodeId): void {
    this.filter = (m) => m.from !== id && m.to !== id;
  }

  heal(): void {
    this.filter = () => true;
  }
}
