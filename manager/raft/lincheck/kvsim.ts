// Concurrent KV clients on a simulated Raft cluster under faults, recording a history for the checker.
import type { Entry, ReadState } from '../core/types.js';
import { ProposalDroppedError, RaftError } from '../core/types.js';
import { SimCluster, type SimNode, type StateMachine } from '../sim/cluster.js';
import { Nemesis, randomProfile } from '../sim/nemesis.js';
import { Rng } from '../sim/prng.js';
import type { Operation } from './checker.js';
import type { KvInput, KvOutput } from './kv.js';

interface Command {
  client: number;
  seq: number;
  input: KvInput;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The replicated KV store. Sessions (last seq and output per client) make duplicated entries harmless. */
export class KvStore implements StateMachine {
  data = new Map<string, string>();
  sessions = new Map<number, { seq: number; output: KvOutput }>();
  lastOutput: KvOutput = null;

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  apply(e: Entry): void {
    const cmd: Command = JSON.parse(dec.decode(e.data));
    const session = this.sessions.get(cmd.client);
    if (session && cmd.seq <= session.seq) {
      this.lastOutput = session.seq === cmd.seq ? session.output : null;
      return;
    }
    this.lastOutput = this.execute(cmd.input);
    this.sessions.set(cmd.client, { seq: cmd.seq, output: this.lastOutput });
  }

  private execute(input: KvInput): KvOutput {
    switch (input.op) {
      case 'put':
        this.data.set(input.key, input.value);
        return null;
      case 'append':
        this.data.set(input.key, (this.get(input.key) ?? '') + input.value);
        return null;
      case 'cas': {
        if (this.get(input.key) !== input.expect) return false;
        this.data.set(input.key, input.value);
        return true;
      }
      case 'get':
        return this.get(input.key);
    }
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ data: [...this.data], sessions: [...this.sessions] }));
  }

  restore(bytes: Uint8Array): void {
    const s = JSON.parse(dec.decode(bytes));
    this.data = new Map(s.data);
    this.sessions = new Map(s.sessions);
  }
}

export type ReadMode = 'readIndex' | 'localStale';

export interface KvSimOptions {
  seed: number;
  nodes: number;
  steps: number;
  clients?: number;
  /** 'localStale' reads a random node's state directly: the negative control. */
  reads: ReadMode;
}

interface Pending {
  op: Operation<KvInput, KvOutput>;
  node: SimNode;
  seq: number;
  deadline: number;
  readIndex?: number;
  ctx?: string;
}

export function runKvSeed(opts: KvSimOptions): {
  history: Operation<KvInput, KvOutput>[];
  completed: number;
} {
  const rng = new Rng(opts.seed * 40503 + 17);
  let clock = 0;
  const history: Operation<KvInput, KvOutput>[] = [];
  const pending = new Map<number, Pending>();
  const seqs = new Map<number, number>();
  let nemesis: Nemesis | undefined;

  const respond = (client: number, output: KvOutput) => {
    const p = pending.get(client)!;
    p.op.return = ++clock;
    p.op.output = output;
    history.push(p.op);
    pending.delete(client);
  };

  const c = new SimCluster({
    rng,
    net: { dropRate: rng.pick([0, 0.05, 0.15]), dupRate: 0.05, maxDelay: rng.pick([1, 4]) },
    makeStateMachine: () => new KvStore(),
    snapshotInterval: 25,
    snapshotKeep: 5,
    maxSyncDelay: 2,
    writeFaultRate: rng.pick([0, 0.01]),
    onApply: (node: SimNode, e: Entry) => {
      nemesis?.noteApplied(e);
      if (e.type !== 'normal' || e.data.length === 0) return;
      const cmd: Command = JSON.parse(dec.decode(e.data));
      const p = pending.get(cmd.client);
      if (p && p.node === node && p.seq === cmd.seq && !p.ctx)
        respond(cmd.client, (node.sm as KvStore).lastOutput);
    },
    onReadState: (node: SimNode, rs: ReadState) => {
      const ctx = dec.decode(rs.context);
      for (const p of pending.values()) if (p.node === node && p.ctx === ctx) p.readIndex = rs.index;
    },
  });
  const ids = Array.from({ length: opts.nodes }, (_, i) => i + 1);
  for (const id of ids) c.addNode(id, ids);
  nemesis = new Nemesis(c, randomProfile(rng), opts.nodes);
  const keys = ['x', 'y'];
  const clients = opts.clients ?? 4;

  const invoke = (client: number) => {
    const up = c.upNodes();
    if (up.length === 0) return;
    const node = rng.pick(up);
    const seq = (seqs.get(client) ?? 0) + 1;
    seqs.set(client, seq);
    const key = rng.pick(keys);
    const value = `c${client}s${seq}`;
    const r = rng.next();
    const input: KvInput =
      r < 0.4
        ? { op: 'get', key }
        : r < 0.65
          ? { op: 'put', key, value }
          : r < 0.85
            ? { op: 'append', key, value }
            : {
                op: 'cas',
                key,
                expect: rng.chance(0.5) ? null : `c${rng.int(clients)}s${rng.int(seq + 1)}`,
                value,
              };
    const op: Operation<KvInput, KvOutput> = {
      clientId: client,
      input,
      call: ++clock,
      return: 0,
      output: undefined,
    };
    const p: Pending = { op, node, seq, deadline: c.now + 80 };
    if (input.op === 'get') {
      if (opts.reads === 'localStale') {
        pending.set(client, p);
        respond(client, (node.sm as KvStore).get(key));
        return;
      }
      p.ctx = `${client}:${seq}`;
      try {
        node.driver.readIndex(enc.encode(p.ctx));
      } catch (err) {
        if (err instanceof ProposalDroppedError || err instanceof RaftError) return; // never issued
        throw err;
      }
    } else {
      try {
        node.driver.propose(enc.encode(JSON.stringify({ client, seq, input } satisfies Command)));
      } catch (err) {
        if (err instanceof ProposalDroppedError || err instanceof RaftError) return; // definitely not applied
        throw err;
      }
    }
    pending.set(client, p);
  };

  /** Sends a write (again) through some running node; the session dedupes repeats (Raft thesis §6.3). */
  const submit = (client: number, p: Pending): boolean => {
    const up = c.upNodes();
    if (up.length === 0) return false;
    const node = rng.pick(up);
    try {
      node.driver.propose(
        enc.encode(JSON.stringify({ client, seq: p.seq, input: p.op.input } satisfies Command)),
      );
    } catch (err) {
      if (err instanceof ProposalDroppedError || err instanceof RaftError) return false;
      throw err;
    }
    p.node = node;
    p.deadline = c.now + 40;
    return true;
  };

  const tickClients = (invokeNew: boolean) => {
    for (let client = 0; client < clients; client++) {
      const p = pending.get(client);
      if (p) {
        if (p.node.up && c.now < p.deadline) continue;
        if (p.ctx)
          pending.delete(client); // an unanswered read had no effect: drop it
        else {
          submit(client, p); // retry the same command until it is answered
          continue;
        }
      }
      if (invokeNew && rng.chance(0.3)) invoke(client);
    }
  };

  const answerReads = () => {
    for (const [client, p] of pending) {
      if (p.readIndex !== undefined && p.node.up && p.node.appliedIndex >= p.readIndex) {
        respond(client, (p.node.sm as KvStore).get(p.op.input.key));
      }
    }
  };

  for (let i = 0; i < opts.steps; i++) {
    nemesis.act();
    tickClients(true);
    c.step();
    answerReads();
  }
  // Calm phase: heal and restart so outstanding writes get answered; whatever is left stays indeterminate.
  nemesis.heal();
  c.opts.writeFaultRate = 0;
  for (const n of c.nodes.values()) c.restart(n);
  for (let i = 0; i < 300 && pending.size > 0; i++) {
    tickClients(false);
    c.step();
    answerReads();
  }
  for (const p of pending.values()) {
    if (!p.ctx) history.push({ ...p.op, return: Number.POSITIVE_INFINITY, output: undefined });
  }
  return { history, completed: history.filter((o) => o.return !== Number.POSITIVE_INFINITY).length };
}
