// The replicated state store: typed tables that change only by applying committed log entries.
//
//   update(fn) ──Transaction──► ReplicatedLog.propose ─► (consensus) ─► apply(entry, index) on every member
//                                                                       └► watch events, in apply order
//
// A write transaction is checked when it is built (cheap early errors, nothing proposed) and again in apply
// (the authority: another proposal may have committed in between), where a stale version makes the whole
// entry apply nothing. apply never reads a clock: times come from the entry.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { customAlphabet } from 'nanoid';
import { isShoalError, ShoalError, unavailable } from '../../common/errors.js';
import { StoreSnapshot, Transaction } from '../../proto/gen/shoal/swarm/v1/store.js';
import type { ReplicatedLog, StateMachine } from '../raft/replicated.js';
import { type ApplyResult, applyTransaction } from './apply.js';
import type { StoreEvent, WatchFilter } from './events.js';
import { deepFreeze } from './freeze.js';
import {
  CODECS,
  emptyTables,
  type StoredObject,
  TABLE_NAMES,
  type TableName,
  type Tables,
} from './tables.js';
import { type ReadTx, TablesReader, WriteTx } from './tx.js';
import { DEFAULT_WATCH_LIMIT, Watch } from './watch.js';

/** Docker's words for a cluster without a leader (quorum lost, or an election under way). */
export const NO_LEADER_MESSAGE =
  "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";

export type { ApplyResult } from './apply.js';

/** The snapshot layout this code writes and reads (StoreSnapshot.format_version). */
export const SNAPSHOT_FORMAT_VERSION = 1;

export interface StoreOptions {
  /** Unix milliseconds; stamped into each proposed transaction (updated_at). Default Date.now. */
  clock?: () => number;
  /** Makes object ids; default 25 random base-36 characters, like Docker's. */
  newId?: () => string;
  /** Lets the event loop run (between slices of a snapshot being encoded); default setImmediate. */
  yieldTurn?: () => Promise<void>;
}

/** StoreSnapshot's field number of each table's rows (store.proto). */
const SNAPSHOT_FIELD: Record<TableName, number> = {
  cluster: 3,
  node: 4,
  service: 5,
  task: 6,
  network: 7,
  secret: 8,
  config: 9,
};

/** Objects a snapshot encodes between two turns of the event loop (~5–20 ms of work at 100,000 tasks). */
const SNAPSHOT_SLICE = 2000;

export interface UpdateResult<T> {
  /** The log index the transaction applied at (the written objects' version); the current index if it wrote nothing. */
  index: number;
  /** What the transaction callback returned. */
  value: T;
  /** The changes as applied (objects with their new meta). */
  events: StoreEvent[];
}

interface Observer {
  observe(events: readonly StoreEvent[]): void;
  lost(err: unknown): void;
}

export const newObjectId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 25);

export class Store implements StateMachine<ApplyResult> {
  private tables: Tables = emptyTables();
  private applied = 0;
  private log: ReplicatedLog<unknown> | undefined;
  private readonly watches = new Set<Watch<TableName>>();
  private readonly observers = new Set<Observer>();
  /** Frozen parts shared by created objects → the store's copy (WriteTx.createdCopy). */
  private readonly interned = new WeakMap<object, unknown>();
  /** Entries proposed here, by identity, until applied (the log hands apply the same bytes). */
  private readonly proposed = new WeakMap<Uint8Array, Transaction>();
  private readonly clock: () => number;
  private readonly yieldTurn: () => Promise<void>;
  readonly newId: () => string;

  constructor(options: StoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? newObjectId;
    this.yieldTurn = options.yieldTurn ?? (() => new Promise((r) => setImmediate(r)));
  }

  /** Connects the log proposals go through (the raft node, which was itself given this store to apply). */
  connect(log: ReplicatedLog<unknown>): void {
    this.log = log;
  }

  /** The index of the last applied entry (or restored snapshot). */
  get appliedIndex(): number {
    return this.applied;
  }

  /** Runs `fn` over the current state. Synchronous, so the state cannot change while it reads. */
  view<T>(fn: (tx: ReadTx) => T): T {
    return fn(new TablesReader(this.tables, this.applied));
  }

  /**
   * Runs `fn` to build a write transaction and proposes it as one log entry. Resolves once it is applied here,
   * rejects with a ShoalError: what `fn` threw, conflict/not_found/invalid_argument from apply (the state
   * moved since `fn` read it; nothing was written), or unavailable (not the leader, proposal lost, outcome
   * unknown: `cause` holds the log's error).
   */
  async update<T>(fn: (tx: WriteTx) => T): Promise<UpdateResult<T>> {
    const tx = new WriteTx(this.tables, this.applied, this.interned);
    const value = fn(tx);
    tx.seal();
    if (value instanceof Promise) {
      // Its reads would not be of one state, and its writes after an await would be lost.
      value.catch(() => {});
      throw new ShoalError(
        'internal',
        'store.update callbacks must be synchronous (do not pass an async function)',
      );
    }
    if (tx.size === 0) return { index: this.applied, value, events: [] };
    const log = this.log;
    if (!log) throw unavailable('the store is not connected to a replicated log');
    // A follower proposes too (the log forwards to the leader, or refuses): apply decides either way.
    const lead = log.leadership();
    if (!lead.isLeader && lead.leaderId === 0) throw unavailable(NO_LEADER_MESSAGE);
    const timestamp = this.clock();
    const entry = tx.encode(timestamp);
    // This member applies the entry from the objects it already holds (decoded and frozen by the
    // transaction) instead of decoding it again; they are what the entry decodes to (encode.test.ts).
    this.proposed.set(entry, { actions: tx.actions(), timestamp });
    let applied: { index: number; result: unknown };
    try {
      applied = await log.propose(entry);
    } catch (err) {
      if (isShoalError(err)) throw err;
      if (log.leadership().leaderId === 0)
        throw unavailable(`${NO_LEADER_MESSAGE} (${(err as Error)?.message})`, err);
      throw unavailable(
        `the write was not confirmed (it may or may not have committed; see cause): ${(err as Error)?.message ?? String(err)}`,
        err,
      );
    }
    const result = applied.result as ApplyResult;
    if (!result?.ok) throw result?.error ?? new ShoalError('internal', 'the log returned no apply result');
    return { index: applied.index, value, events: result.events };
  }

  /**
   * A linearizable read: waits until this member has applied every write acknowledged before the call
   * (a ReadIndex round through the leader), then runs `fn` like view. Rejects unavailable without a leader.
   */
  async readView<T>(fn: (tx: ReadTx) => T): Promise<T> {
    const log = this.log;
    if (!log) throw unavailable('the store is not connected to a replicated log');
    try {
      await log.readBarrier();
    } catch (err) {
      if (isShoalError(err)) throw err;
      if (log.leadership().leaderId === 0) throw unavailable(NO_LEADER_MESSAGE, err);
      throw unavailable(`cannot confirm the latest state: ${(err as Error)?.message ?? String(err)}`, err);
    }
    // The log has applied through `index` here; the store's own index may be lower when the last entries were
    // the log's (membership changes), which never reach the store.
    return this.view(fn);
  }

  /** Subscribes to events applied from now on. Close the watch when done. */
  watch<K extends TableName = TableName>(
    filter: WatchFilter<K> = {},
    options: { limit?: number } = {},
  ): Watch<K> {
    const w = new Watch<K>(filter, options.limit ?? DEFAULT_WATCH_LIMIT, (x) =>
      this.watches.delete(x as unknown as Watch<TableName>),
    );
    this.watches.add(w as unknown as Watch<TableName>);
    return w;
  }

  /**
   * Reads the state with `fn` and from then on calls `observer` synchronously with the events of every change
   * applied (a transaction's or a snapshot restore's), before anything else can read the store: what a reader
   * derives from `fn`'s view and the events stays equal to what it would derive from the current state. For
   * state kept beside the store (the scheduler's per-node accounting); it must be fast. One that throws is
   * dropped (an apply must not fail for it) and `lost` is told: what it kept is stale from then on.
   * Returns fn's value and the function that ends the observation.
   */
  viewAndObserve<T>(
    fn: (tx: ReadTx) => T,
    observer: (events: readonly StoreEvent[]) => void,
    lost: (err: unknown) => void = () => {},
  ): { value: T; stop: () => void } {
    const value = this.view(fn);
    const o: Observer = { observe: observer, lost };
    this.observers.add(o);
    return { value, stop: () => this.observers.delete(o) };
  }

  /**
   * Reads the state and subscribes in one step: the watch gets exactly the events applied after the state
   * `fn` saw (index), none lost, none already reflected in the view.
   */
  viewAndWatch<T, K extends TableName = TableName>(
    fn: (tx: ReadTx) => T,
    filter: WatchFilter<K> = {},
    options: { limit?: number } = {},
  ): { value: T; index: number; watch: Watch<K> } {
    const watch = this.watch(filter, options);
    try {
      return { value: this.view(fn), index: this.applied, watch };
    } catch (err) {
      watch.close();
      throw err;
    }
  }

  // ---- StateMachine: driven by the replicated log ----

  apply(data: Uint8Array, index: number): ApplyResult {
    let tx: Transaction | undefined = this.proposed.get(data);
    if (tx) this.proposed.delete(data);
    try {
      tx ??= Transaction.decode(data);
    } catch (err) {
      this.applied = index;
      return {
        ok: false,
        error: new ShoalError('invalid_argument', `log entry ${index} is not a store transaction`, {
          cause: err,
        }),
      };
    }
    const result = applyTransaction(this.tables, tx, index);
    this.applied = index;
    if (result.ok) this.publish(result.events);
    return result;
  }

  /**
   * snapshot()'s bytes, of the state as it is now (the rows are frozen: capturing them is copying the lists),
   * encoded a slice at a time with the event loop running between slices.
   */
  async snapshotLater(): Promise<Uint8Array> {
    const w = new BinaryWriter();
    for (const _ of this.encodeSnapshot(w)) await this.yieldTurn();
    return w.finish();
  }

  snapshot(): Uint8Array {
    const w = new BinaryWriter();
    for (const _ of this.encodeSnapshot(w));
    return w.finish();
  }

  /**
   * Writes the state as of now as a StoreSnapshot, field for field as StoreSnapshot.encode does (the same
   * bytes), pausing (yield) every SNAPSHOT_SLICE objects. The rows are taken when it starts.
   */
  private *encodeSnapshot(w: BinaryWriter): Generator<void> {
    const appliedIndex = this.applied;
    const rows = TABLE_NAMES.map((t) => [t, this.tables[t].all() as StoredObject[]] as const);
    w.uint32(8).uint32(SNAPSHOT_FORMAT_VERSION);
    if (appliedIndex !== 0) w.uint32(16).uint64(appliedIndex);
    let n = 0;
    for (const [table, objects] of rows) {
      const tag = (SNAPSHOT_FIELD[table] << 3) | 2;
      const codec = CODECS[table] as { encode(o: StoredObject, w: BinaryWriter): unknown };
      for (const o of objects) {
        codec.encode(o, w.uint32(tag).fork());
        w.join();
        if (++n % SNAPSHOT_SLICE === 0) yield;
      }
    }
  }

  /** Replaces the state with a snapshot's; watchers get the difference as events. */
  restore(data: Uint8Array): void {
    let s: StoreSnapshot;
    try {
      s = StoreSnapshot.decode(data);
    } catch (err) {
      throw new ShoalError('invalid_argument', 'the store snapshot cannot be decoded', { cause: err });
    }
    if (s.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
      throw new ShoalError(
        'invalid_argument',
        `store snapshot format ${s.formatVersion} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`,
        { field: 'format_version' },
      );
    }
    const next = emptyTables();
    const rows: { [K in TableName]: StoredObject[] } = {
      cluster: s.clusters,
      node: s.nodes,
      service: s.services,
      task: s.tasks,
      network: s.networks,
      secret: s.secrets,
      config: s.configs,
    };
    for (const table of TABLE_NAMES) {
      const t = next[table] as unknown as { put(o: StoredObject): void };
      for (const o of rows[table]) t.put(deepFreeze(o));
    }
    const events = diff(this.tables, next, s.appliedIndex);
    this.tables = next;
    this.applied = s.appliedIndex;
    this.publish(events);
  }

  private publish(events: readonly StoreEvent[]): void {
    // (Deleting the entry being visited is safe while iterating a Set.)
    for (const o of this.observers) {
      try {
        o.observe(events);
      } catch (err) {
        this.observers.delete(o);
        o.lost(err);
      }
    }
    if (this.watches.size === 0) return;
    for (const e of events) for (const w of [...this.watches]) w.offer(e);
  }
}

/** The events that turn `from` into `to` (objects with equal versions are the same write). */
function diff(from: Tables, to: Tables, index: number): StoreEvent[] {
  const events: StoreEvent[] = [];
  for (const table of TABLE_NAMES) {
    const a = from[table] as unknown as { all(): StoredObject[]; get(id: string): StoredObject | undefined };
    const b = to[table] as unknown as { all(): StoredObject[]; get(id: string): StoredObject | undefined };
    for (const o of a.all()) {
      if (!b.get(o.id))
        events.push({ kind: 'remove', table, object: o, previous: undefined, index } as StoreEvent);
    }
    for (const o of b.all()) {
      const old = a.get(o.id);
      if (!old) events.push({ kind: 'create', table, object: o, previous: undefined, index } as StoreEvent);
      else if (old.meta?.version !== o.meta?.version) {
        events.push({ kind: 'update', table, object: o, previous: old, index } as StoreEvent);
      }
    }
  }
  return events;
}
