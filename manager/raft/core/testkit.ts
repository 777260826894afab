// A synchronous in-memory cluster for unit tests of the core: every node persists and applies instantly.
import { mulberry32 } from '../sim/prng.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import type { Config, Entry, Message, NodeId, ReadState } from './types.js';

export interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
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
    const node = new RawNode(this.config(id, storage));
    if (bootstrap) node.bootstrap(voters);
    const tn: TestNode = { id, node, storage, applied: [], readStates: [] };
    this.nodes.set(id, tn);
    this.process(tn);
    return tn;
  }

  /** Restarts a node from its storage (which holds everything that was persisted). */
  restart(id: NodeId): TestNode {
    const old = this.get(id);
    const node = new RawNode(this.config(id, old.storage));
    const tn: TestNode = { id, node, storage: old.storage, applied: [], readStates: [] };
    this.nodes.set(id, tn);
    this.process(tn);
    return tn;
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Runs the Ready loop of one node: persist, send, apply, advance. */
  process(tn: TestNode): void {
    while (tn.node.hasReady()) {
      const rd = tn.node.ready();
      if (rd.snapshot) {
        tn.storage.applySnapshot(rd.snapshot);
        tn.applied = [];
      }
      tn.storage.append(rd.entries);
      if (rd.hardState) tn.storage.setHardState(rd.hardState);
      for (const m of rd.messages) {
        this.sent.push(m);
        if (this.filter(m)) this.inflight.push(m);
      }
      tn.applied.push(...rd.committedEntries);
      tn.readStates.push(...rd.readStates);
      tn.node.advance();
    }
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
    for (let i = 0; i < n; i++) tn.node.tick();
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
