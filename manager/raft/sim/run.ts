import { ProposalDroppedError, RaftError } from '../core/types.js';
import type { UnsafeMutations } from '../node/driver.js';
import { type Violation, ViolationError } from './checker.js';
import { SimCluster, type SimNode, type StateMachine } from './cluster.js';
import { Nemesis, randomProfile } from './nemesis.js';
import { Rng } from './prng.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Steps (ticks) of faults; a calm phase follows to check that acknowledged writes survived. */
  steps: number;
  verbose?: boolean;
  /** Injected bug for testing the checker: fsync is a no-op except every n-th call. */
  lyingDiskEvery?: number;
  /** Off to show that the end-to-end properties also catch a lying disk. */
  checkDurability?: boolean;
  /** Injected driver bugs (test-only): the checkers must report them. */
  unsafe?: UnsafeMutations;
  log?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  steps: number;
  violation?: Violation;
  acked: number;
  stats: Record<string, number>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The simulated application: the list of proposal ids applied, in order. */
export class IdLog implements StateMachine {
  ids: string[] = [];
  apply(e: { data: Uint8Array }): void {
    this.ids.push(dec.decode(e.data));
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify(this.ids));
  }
  restore(data: Uint8Array): void {
    this.ids = JSON.parse(dec.decode(data));
  }
}

interface Pending {
  id: string;
  node: SimNode;
  since: number;
}

/** Clients that propose unique ids and record an acknowledgement when their node applies the entry. */
class Workload {
  private seq = 0;
  readonly pending = new Map<string, Pending>();
  /** Acknowledged ids with the index they were applied at. */
  readonly acked = new Map<string, number>();
  private lastLeader?: SimNode;

  constructor(
    private readonly c: SimCluster,
    private readonly clients: number,
  ) {}

  act(): void {
    const rng = this.c.opts.rng;
    for (const [id, p] of this.pending) {
      // Unknown outcome after a while (node crashed, proposal dropped): give up, the id may still commit.
      if (this.c.now - p.since > 60 || !p.node.up) this.pending.delete(id);
    }
    const leader = this.c.leader();
    if (leader) this.lastLeader = leader;
    for (let i = this.pending.size; i < this.clients; i++) {
      if (!rng.chance(0.5)) continue;
      const up = this.c.upNodes();
      if (up.length === 0) return;
      const target = this.lastLeader?.up && rng.chance(0.7) ? this.lastLeader : rng.pick(up);
      const id = `p${++this.seq}`;
      try {
        target.driver.propose(enc.encode(id));
        this.pending.set(id, { id, node: target, since: this.c.now });
      } catch (err) {
        if (!(err instanceof ProposalDroppedError || err instanceof RaftError)) throw err;
      }
    }
  }

  onApply(node: SimNode, data: Uint8Array): void {
    if (data.length === 0) return;
    const id = dec.decode(data);
    const p = this.pending.get(id);
    if (p && p.node === node) {
      this.pending.delete(id);
      this.acked.set(id, node.appliedIndex);
    }
  }
}

/** One seeded run: faults for `steps` ticks, then a calm phase in which every acknowledged write must show up. */
export function runSeed(opts: SimOptions): SimResult {
  const rng = new Rng(opts.seed * 2654435761);
  const net = {
    dropRate: rng.pick([0, 0.02, 0.1, 0.25]),
    dupRate: rng.pick([0, 0.02, 0.1]),
    // Round trips (two deliveries plus two fsyncs) stay well under the election timeout, as in a real
    // deployment; slower networks livelock elections, which is a tuning problem, not a safety one.
    maxDelay: rng.pick([1, 3, 5]),
  };
  let workload: Workload | undefined;
  let nemesis: Nemesis | undefined;
  const c = new SimCluster({
    rng,
    net,
    makeStateMachine: () => new IdLog(),
    snapshotInterval: rng.pick([8, 20, 50]),
    snapshotKeep: rng.pick([0, 3, 10]),
    maxSyncDelay: rng.pick([0, 1, 3]),
    // Failed writes exercise the driver's recovery (core rebuilt from the disk) under the checkers.
    writeFaultRate: rng.pick([0, 0, 0.005, 0.02]),
    lyingDiskEvery: opts.lyingDiskEvery,
    unsafe: opts.unsafe,
    checkDurability: opts.checkDurability,
    raft: {
      electionTick: 16,
      maxSizePerMsg: rng.pick([16, 256, 4096]),
      maxInflightMsgs: rng.pick([1, 4, 64]),
    },
    onApply: (n, e) => {
      nemesis?.noteApplied(e);
      if (e.type === 'normal') workload?.onApply(n, e.data);
    },
    log: opts.verbose ? (opts.log ?? console.log) : undefined,
  });
  const ids = Array.from({ length: opts.nodes }, (_, i) => i + 1);
  for (const id of ids) c.addNode(id, ids);
  workload = new Workload(c, 3);
  nemesis = new Nemesis(c, randomProfile(rng), opts.nodes);
  const result: SimResult = { seed: opts.seed, steps: 0, acked: 0, stats: {} };
  try {
    for (let i = 0; i < opts.steps; i++) {
      nemesis.act();
      workload.act();
      c.step();
      result.steps++;
    }
    // Calm phase: heal, stop message loss, restart everyone still a member, keep proposing until all
    // members caught up. (Under heavy loss, elections in a shrunken cluster can take arbitrarily long.)
    nemesis.heal();
    net.dropRate = 0;
    c.opts.writeFaultRate = 0;
    for (const n of c.nodes.values()) c.restart(n);
    const settled = () => {
      const leader = c.leader();
      if (!leader) return false;
      const target = Math.max(leader.raw.raft.log.committed, ...workload!.acked.values());
      const cs = leader.raw.confState();
      return [...cs.voters, ...cs.learners].every((id) => {
        const n = c.nodes.get(id);
        return n?.up && n.appliedIndex >= target;
      });
    };
    let calm = 0;
    for (; calm < 400 && !(calm > 20 && settled()); calm++) {
      if (calm < 200) workload.act();
      c.step();
      result.steps++;
    }
    if (!settled()) {
      c.checker.fail('liveness', `cluster did not converge within ${calm} calm steps: ${describe(c)}`);
    }
    const leader = c.leader()!;
    const cs = leader.raw.confState();
    for (const id of [...cs.voters, ...cs.learners]) {
      const sm = c.nodes.get(id)!.sm as IdLog;
      const have = new Set(sm.ids);
      for (const [pid, index] of workload.acked) {
        if (!have.has(pid))
          c.checker.fail('lost-ack', `node ${id} lacks acknowledged ${pid} (index ${index})`);
      }
    }
  } catch (err) {
    if (err instanceof ViolationError) result.violation = err.violation;
    else {
      result.violation = {
        step: c.now,
        kind: 'exception',
        detail: err instanceof Error ? (err.stack ?? err.message) : String(err),
      };
    }
  }
  result.acked = workload.acked.size;
  result.stats = { ...c.stats, ...nemesis.stats, maxApplied: c.checker.maxApplied };
  return result;
}

function describe(c: SimCluster): string {
  return [...c.nodes.values()]
    .map((n) => {
      if (n.retired) return `${n.id}:retired`;
      const st = n.raw.status();
      const prs = Object.entries(st.progress)
        .map(([id, p]) => `${id}=${p.state}/${p.match}/${p.next}${p.recentActive ? '' : '!'}`)
        .join(',');
      const lastTerm = n.raw.raft.log.lastTerm();
      return `${n.id}:${n.up ? '' : 'down,'}${st.role} t${st.term} vote${st.vote} lt${lastTerm} lead${st.leader} c${st.commit} a${n.appliedIndex} last${st.lastIndex} v[${st.config.voters}] l[${st.config.learners}]${prs ? ` {${prs}}` : ''}`;
    })
    .join(' | ');
}
