// The output of a reconcile pass: the writes it wants, applied by the runner as one store transaction. Each
// object appears once: a later decision on the same task replaces an earlier one of the same pass.
import type { Node, Service, Task } from '../../proto/gen/shoal/swarm/v1/objects.js';
import type { WriteTx } from '../store/index.js';

export interface Decisions {
  creates: Task[];
  /** Changed copies, carrying the version they were read at (a concurrent change makes the batch conflict). */
  updates: Task[];
  removes: Task[];
  removeServices: Service[];
  /**
   * Changed services (the updater's UpdateStatus, an automatic rollback's spec; the allocator's VIPs and
   * published ports) and nodes (the allocator's node attachments), with the version read.
   */
  updateServices?: Service[];
  updateNodes?: Node[];
  /** Unix ms when the answer would change with no store change (a restart delay ending); undefined: never. */
  wakeAt: number | undefined;
  /**
   * The pass left nothing waiting on other changes: until one of the events the loop's `wakesOn` accepts,
   * passes would decide nothing (the scheduler with every pending task placed ignores status reports).
   */
  settled?: boolean;
  /**
   * What the next pass needs to know of this one (opaque to the loop): handed to the next pass only once
   * this one's writes are all committed; a pass over everything is given none.
   */
  carry?: unknown;
}

export const isEmpty = (d: Decisions): boolean =>
  d.creates.length +
    d.updates.length +
    d.removes.length +
    d.removeServices.length +
    (d.updateServices?.length ?? 0) +
    (d.updateNodes?.length ?? 0) ===
  0;

export class DecisionSet {
  private readonly creates = new Map<string, Task>();
  private readonly updates = new Map<string, Task>();
  private readonly removes = new Map<string, Task>();
  private readonly serviceRemoves = new Map<string, Service>();
  private readonly serviceUpdates = new Map<string, Service>();
  private readonly growth = new Map<string, Growth>();
  private readonly sweeps = new Map<string, Sweep>();
  private wake: number | undefined;

  create(t: Task): void {
    this.creates.set(t.id, t);
  }

  update(t: Task): void {
    if (this.creates.has(t.id)) this.creates.set(t.id, t);
    else this.updates.set(t.id, t);
  }

  remove(t: Task): void {
    this.updates.delete(t.id);
    if (this.creates.delete(t.id)) return;
    this.removes.set(t.id, t);
  }

  removeService(s: Service): void {
    this.serviceRemoves.set(s.id, s);
  }

  updateService(s: Service): void {
    this.serviceUpdates.set(s.id, s);
  }

  /** A service still short of slots after this pass's creations: the next pass makes more. */
  grow(serviceId: string, g: Growth): void {
    this.growth.set(serviceId, g);
  }

  /** Slots of a service the next passes reconcile, a slice each (a pass over everything at 100,000 tasks). */
  sweep(serviceId: string, s: Sweep): void {
    this.sweeps.set(serviceId, s);
  }

  /** Whether this pass already decided something about the task. */
  touched(id: string): boolean {
    return this.creates.has(id) || this.updates.has(id) || this.removes.has(id);
  }

  /** The task as this pass left it (its update), else as given. */
  current(t: Task): Task {
    return this.updates.get(t.id) ?? t;
  }

  wakeAt(at: number): void {
    if (this.wake === undefined || at < this.wake) this.wake = at;
  }

  result(): Decisions {
    return {
      creates: [...this.creates.values()],
      updates: [...this.updates.values()],
      removes: [...this.removes.values()],
      removeServices: [...this.serviceRemoves.values()],
      updateServices: [...this.serviceUpdates.values()],
      wakeAt: this.wake,
      ...(this.growth.size + this.sweeps.size > 0
        ? { carry: { growth: this.growth, sweeps: this.sweeps } satisfies Carry }
        : {}),
    };
  }
}

/**
 * A replicated service being scaled up a slice at a time (MAX_CREATES_PER_PASS): the slots it holds, as of
 * the pass that made the last slice, and its version then. A change of the service, or of one of its tasks
 * that frees a slot, makes the next pass look at the whole service again instead.
 */
export interface Growth {
  version: number;
  /** The slot numbers in use (live tasks, or tasks being stopped but not removed). */
  taken: ReadonlySet<number>;
}

/** The slots of a steady service still to be reconciled by a pass over everything, from `next` on. */
export interface Sweep {
  version: number;
  slots: readonly number[];
  next: number;
}

/** The orchestrator's Decisions.carry. */
export interface Carry {
  growth: ReadonlyMap<string, Growth>;
  sweeps: ReadonlyMap<string, Sweep>;
}

/**
 * New tasks one pass makes for scale-ups; the rest come in the next passes. 100,000 replicas created in one
 * pass held the leader's event loop for seconds under load (long enough for an election). A pass of 4,000
 * (created, allocated and placed) decides in ~50–100 ms at 1,000 nodes; each pass also waits for its commit
 * (~0.2–0.5 s there), so 2,000 a pass left the 100,000-replica benchmark at ~4,000–5,000 tasks/s.
 */
export const MAX_CREATES_PER_PASS = 4000;

/** Writes decisions into a store transaction (throws the store's conflict/not_found if the view moved). */
export function applyDecisions(tx: WriteTx, d: Decisions): void {
  for (const t of d.updates) tx.update('task', t);
  for (const t of d.removes) tx.remove('task', t.id);
  for (const t of d.creates) tx.create('task', t);
  for (const s of d.updateServices ?? []) tx.update('service', s);
  for (const n of d.updateNodes ?? []) tx.update('node', n);
  for (const s of d.removeServices) tx.remove('service', s.id);
}

/**
 * Writes per transaction when a pass decides more than that (swarmkit's batches are of 200 changes): a
 * task is ~4.5 KB encoded, so a transaction stays near 1 MB (one raft entry, applied in one go by every
 * manager: 1,000 tasks made entries of 4.6 MB and stalls of seconds).
 */
export const MAX_WRITES_PER_TRANSACTION = 250;

/** How many writes the decisions make. */
export const writeCount = (d: Decisions): number =>
  d.creates.length +
  d.updates.length +
  d.removes.length +
  d.removeServices.length +
  (d.updateServices?.length ?? 0) +
  (d.updateNodes?.length ?? 0);

/**
 * The decisions as transactions of at most `max` writes each, in applyDecisions' order (task updates, task
 * removals, creations, then services and nodes). A pass that places or creates 100,000 tasks so makes entries
 * of a bounded size, which raft replicates, and members apply, without holding the event loop for seconds.
 * Decisions within `max` stay one transaction (all or nothing, as before).
 */
export function splitDecisions(d: Decisions, max = MAX_WRITES_PER_TRANSACTION): Decisions[] {
  if (writeCount(d) <= max) return [d];
  const out: Decisions[] = [];
  let cur = emptyDecisions(d.wakeAt);
  let n = 0;
  const take = <T>(xs: readonly T[] | undefined, into: (c: Decisions) => T[]) => {
    for (const x of xs ?? []) {
      if (n === max) {
        out.push(cur);
        cur = emptyDecisions(d.wakeAt);
        n = 0;
      }
      into(cur).push(x);
      n++;
    }
  };
  take(d.updates, (c) => c.updates);
  take(d.removes, (c) => c.removes);
  take(d.creates, (c) => c.creates);
  take(d.updateServices, (c) => (c.updateServices ??= []));
  take(d.updateNodes, (c) => (c.updateNodes ??= []));
  take(d.removeServices, (c) => c.removeServices);
  if (n > 0) out.push(cur);
  return out;
}

/** Decisions that write nothing. */
export const emptyDecisions = (wakeAt?: number): Decisions => ({
  creates: [],
  updates: [],
  removes: [],
  removeServices: [],
  wakeAt,
});
