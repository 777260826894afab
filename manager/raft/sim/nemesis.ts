import { decodeConfChange } from '../core/confchange.js';
import type { Entry, NodeId } from '../core/types.js';
import type { SimCluster, SimNode } from './cluster.js';

export interface NemesisProfile {
  partition: number;
  heal: number;
  crash: number;
  restart: number;
  pause: number;
  membership: number;
  transfer: number;
}

/** Randomly chosen per seed so that seeds cover calm, lossy and violent runs. */
export function randomProfile(rng: { next(): number }): NemesisProfile {
  const scale = [0.3, 1, 2][Math.floor(rng.next() * 3)];
  return {
    partition: 0.01 * scale,
    heal: 0.03,
    crash: 0.008 * scale,
    restart: 0.05,
    pause: 0.005 * scale,
    membership: 0.01 * scale,
    transfer: 0.006 * scale,
  };
}

/**
 * The fault injector: partitions (symmetric and one-way), crashes and restarts, process pauses, membership
 * changes (add learner → promote, remove, so replacement happens over time) and leader transfers.
 */
export class Nemesis {
  private nextId: number;
  /** Removed members still running (they may try to disrupt) until they are retired. */
  private removed = new Map<NodeId, number>();
  stats = { partitions: 0, confChanges: 0, transfers: 0, pauses: 0 };

  constructor(
    private readonly c: SimCluster,
    private readonly p: NemesisProfile,
    private readonly baseSize: number,
  ) {
    this.nextId = Math.max(...c.nodes.keys()) + 1;
  }

  act(): void {
    const rng = this.c.opts.rng;
    if (rng.chance(this.p.partition)) this.partition();
    if (this.c.blocked.size > 0 && rng.chance(this.p.heal)) this.heal();
    if (rng.chance(this.p.crash)) this.crashOne();
    for (const n of this.c.nodes.values())
      if (!n.up && !n.retired && rng.chance(this.p.restart)) this.c.restart(n);
    if (rng.chance(this.p.pause)) this.pauseOne();
    if (rng.chance(this.p.membership)) this.changeMembership();
    if (rng.chance(this.p.transfer)) this.transfer();
    for (const [id, at] of this.removed) {
      if (this.c.now >= at) {
        this.c.retire(this.c.nodes.get(id)!);
        this.removed.delete(id);
      }
    }
  }

  heal(): void {
    this.c.blocked.clear();
    this.log('heal');
  }

  private live(): SimNode[] {
    return [...this.c.nodes.values()].filter((n) => !n.retired);
  }

  private partition(): void {
    const rng = this.c.opts.rng;
    const ids = this.live().map((n) => n.id);
    if (ids.length < 2) return;
    this.stats.partitions++;
    if (rng.chance(0.3)) {
      const a = rng.pick(ids);
      const b = rng.pick(ids.filter((x) => x !== a));
      this.c.blocked.add(`${a}>${b}`);
      this.log(`one-way partition ${a}>${b}`);
      return;
    }
    const side = new Set(ids.filter(() => rng.chance(0.5)));
    for (const a of ids)
      for (const b of ids) if (side.has(a) !== side.has(b)) this.c.blocked.add(`${a}>${b}`);
    this.log(`partition [${[...side]}] | [${ids.filter((x) => !side.has(x))}]`);
  }

  private crashOne(): void {
    const up = this.c.upNodes().filter((n) => !n.retired);
    if (up.length === 0) return;
    // Prefer the leader now and then: leader crashes are where acknowledged writes get lost.
    const leader = this.c.leader();
    const victim = leader && this.c.opts.rng.chance(0.4) ? leader : this.c.opts.rng.pick(up);
    this.c.crash(victim);
  }

  private pauseOne(): void {
    const up = this.c.upNodes();
    if (up.length === 0) return;
    const n = this.c.opts.rng.pick(up);
    n.pausedUntil = this.c.now + 1 + this.c.opts.rng.int(25);
    this.stats.pauses++;
    this.log(`pause ${n.id} until ${n.pausedUntil}`);
  }

  private changeMembership(): void {
    const leader = this.c.leader();
    if (!leader) return;
    const rng = this.c.opts.rng;
    const cs = leader.raw.confState();
    const st = leader.raw.status();
    const learners = cs.learners.filter((id) => {
      const pr = st.progress[id];
      return pr && pr.match >= st.commit;
    });
    const members = cs.voters.length + cs.learners.length;
    const choices: (() => void)[] = [];
    if (learners.length > 0) choices.push(() => this.propose(leader, 'promote', rng.pick(learners)));
    if (members <= this.baseSize && cs.learners.length === 0) {
      choices.push(() => {
        const id = this.nextId++;
        this.c.addNode(id);
        this.propose(leader, 'addLearner', id);
      });
    }
    if (cs.voters.length >= this.baseSize) {
      // Sometimes the leader removes itself.
      const victim = rng.chance(0.2) ? leader.id : rng.pick(cs.voters);
      choices.push(() => this.propose(leader, 'remove', victim));
    }
    if (choices.length > 0) rng.pick(choices)();
  }

  /** Called for every applied entry: a committed removal means that member is gone for good (ids are never reused). */
  noteApplied(e: Entry): void {
    if (e.type !== 'confChange') return;
    const cc = decodeConfChange(e.data);
    if (cc.type !== 'remove' || this.removed.has(cc.nodeId)) return;
    const n = this.c.nodes.get(cc.nodeId);
    // Left running for a while: a removed member must not be able to disrupt the others.
    if (n && !n.retired) this.removed.set(cc.nodeId, this.c.now + this.c.opts.rng.int(100));
  }

  private propose(leader: SimNode, type: 'addLearner' | 'promote' | 'remove', nodeId: NodeId): void {
    try {
      leader.driver.proposeConfChange({ type, nodeId, context: new Uint8Array(0) });
      this.stats.confChanges++;
      this.log(`propose ${type} ${nodeId} via ${leader.id}`);
    } catch {
      // A change is pending or leadership moved: try again another time.
    }
  }

  private transfer(): void {
    const leader = this.c.leader();
    if (!leader) return;
    const voters = leader.raw.confState().voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = this.c.opts.rng.pick(voters);
    leader.driver.transferLeadership(to);
    this.stats.transfers++;
    this.log(`transfer ${leader.id} -> ${to}`);
  }

  private log(s: string): void {
    this.c.opts.log?.(`t=${this.c.now} ${s}`);
  }
}
