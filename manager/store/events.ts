// What watchers receive: one event per changed object, after the change is applied, in apply order.
import type { Objects, TableName } from './tables.js';

export type ChangeKind = 'create' | 'update' | 'remove';

export type StoreEvent = {
  [K in TableName]: {
    kind: ChangeKind;
    table: K;
    /** The object as stored after the change; for remove, as it was when removed. */
    object: Objects[K];
    /** For update: the object before the change. */
    previous: Objects[K] | undefined;
    /** The log index the change was applied at (for changes made by a snapshot restore: the snapshot's). */
    index: number;
  };
}[TableName];

/** The events of the tables K. */
export type EventOf<K extends TableName> = Extract<StoreEvent, { table: K }>;

/** Which events a watcher wants. Every given part must match; an empty filter matches everything. */
export interface WatchFilter<K extends TableName = TableName> {
  /** One table or several. */
  table?: K | readonly K[];
  kind?: ChangeKind | readonly ChangeKind[];
  /** Called for events that passed table and kind; must be pure and fast (it runs inside apply). */
  predicate?: (e: EventOf<K>) => boolean;
}

const oneOf = <T>(want: T | readonly T[] | undefined, got: T): boolean =>
  want === undefined || (Array.isArray(want) ? (want as readonly T[]).includes(got) : want === got);

export function matches<K extends TableName>(f: WatchFilter<K>, e: StoreEvent): e is EventOf<K> {
  if (!oneOf<TableName>(f.table, e.table)) return false;
  if (!oneOf(f.kind, e.kind)) return false;
  return f.predicate ? f.predicate(e as EventOf<K>) : true;
}
