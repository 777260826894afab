// The store's tables: which objects, how each is named, and the secondary indexes the managers query by.

import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { compareText } from '../../common/compare.js';
import {
  Cluster,
  Config,
  Network,
  Node,
  Secret,
  Service,
  Task,
} from '../../proto/gen/shoal/swarm/v1/objects.js';
import { type Meta, TaskState } from '../../proto/gen/shoal/swarm/v1/types.js';

/** The object stored in each table. */
export interface Objects {
  cluster: Cluster;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
  secret: Secret;
  config: Config;
}

export type TableName = keyof Objects;

/** Every stored object: an id and the store-owned meta. */
export interface StoredObject {
  id: string;
  meta: Meta | undefined;
}

/** Secondary indexes per table (keys are strings; see the index functions below for what each holds). */
export interface Indexes {
  cluster: never;
  node: 'hostname';
  service: never;
  task: 'service' | 'node' | 'slot' | 'desiredState' | 'running';
  network: never;
  secret: never;
  config: never;
}

interface TableDef<K extends TableName> {
  /** The object's name (its annotations'), '' when none. */
  name(o: Objects[K]): string;
  /** Whether names are unique in the table (and required). */
  uniqueNames: boolean;
  /** Index name → the object's key in it (undefined: not in that index). */
  indexes: Record<Indexes[K], (o: Objects[K]) => string | undefined>;
}

/** Key of the task `slot` index: a replicated service's slot (global services' tasks have slot 0). */
export const slotKey = (serviceId: string, slot: number): string => `${serviceId}/${slot}`;

const specName = (o: { spec?: { annotations?: { name: string } | undefined } | undefined }) =>
  o.spec?.annotations?.name ?? '';

export const TABLE_DEFS: { [K in TableName]: TableDef<K> } = {
  cluster: { name: specName, uniqueNames: true, indexes: {} },
  // Node names are optional and hostnames repeat (two VMs cloned from one image): neither is unique.
  node: {
    name: specName,
    uniqueNames: false,
    indexes: { hostname: (n) => n.description?.hostname || undefined },
  },
  service: { name: specName, uniqueNames: true, indexes: {} },
  task: {
    name: (t) => t.annotations?.name ?? '',
    uniqueNames: false,
    indexes: {
      service: (t) => t.serviceId || undefined,
      node: (t) => t.nodeId || undefined,
      slot: (t) => (t.serviceId && t.slot > 0 ? slotKey(t.serviceId, t.slot) : undefined),
      desiredState: (t) => String(t.desiredState),
      // A service's tasks observed RUNNING: `service ls` counts them (count()) instead of walking every task.
      running: (t) =>
        t.serviceId && t.status?.state === TaskState.TASK_STATE_RUNNING ? t.serviceId : undefined,
    },
  },
  network: { name: specName, uniqueNames: true, indexes: {} },
  secret: { name: specName, uniqueNames: true, indexes: {} },
  config: { name: specName, uniqueNames: true, indexes: {} },
};

/** Table order of snapshots and of anything iterating all tables (fixed: determinism). */
export const TABLE_NAMES: readonly TableName[] = [
  'cluster',
  'node',
  'service',
  'task',
  'network',
  'secret',
  'config',
];

/** Each table's protobuf codec. */
export const CODECS: {
  [K in TableName]: {
    encode(o: Objects[K], w?: BinaryWriter): { finish(): Uint8Array };
    decode(b: Uint8Array): Objects[K];
  };
} = {
  cluster: Cluster,
  node: Node,
  service: Service,
  task: Task,
  network: Network,
  secret: Secret,
  config: Config,
};

/**
 * A mutable deep copy of an object, as the store would hold it: only the proto's fields, bytes as Buffers.
 * Stored objects are frozen; clone one to change it and write the copy back with an update.
 */
export function clone<K extends TableName>(table: K, o: Objects[K]): Objects[K] {
  return CODECS[table].decode(encodeObject(table, o));
}

/** One writer for every object encoded: its buffer stays grown (a fresh writer regrows it per object). */
const writer = new BinaryWriter();

/** The object's protobuf encoding (a copy: the writer's buffer is reused). */
export function encodeObject<K extends TableName>(table: K, o: Objects[K]): Uint8Array {
  try {
    return CODECS[table].encode(o, writer).finish();
  } catch (err) {
    writer.finish(); // what a failed encode left in the writer must not start the next one
    throw err;
  }
}

export const isTableName = (s: string): s is TableName => Object.hasOwn(TABLE_DEFS, s);

export function objectName<K extends TableName>(table: K, o: Objects[K]): string {
  return TABLE_DEFS[table].name(o);
}

function dropFromIndex(m: Map<string, Set<string>>, key: string, id: string): void {
  const ids = m.get(key);
  ids?.delete(id);
  if (ids?.size === 0) m.delete(key);
}

/** One table's rows and indexes. Mutated only by the store's apply/restore. */
export class Table<K extends TableName> {
  private readonly rows = new Map<string, Objects[K]>();
  private readonly names = new Map<string, string>();
  private readonly index = new Map<string, Map<string, Set<string>>>();
  /**
   * The ids in order, kept until one is added or removed: most writes replace an object under an id it
   * already has (a task's status), and sorting tens of thousands of ids for every list() was a large part
   * of a big cluster's leader time.
   */
  private sortedIds: string[] | undefined;

  /** Each index's key function with its map (listed once, not at every write). */
  private readonly indexes: readonly {
    key: (o: Objects[K]) => string | undefined;
    ids: Map<string, Set<string>>;
  }[];

  constructor(readonly table: K) {
    const fns = Object.entries(TABLE_DEFS[table].indexes) as [
      string,
      (o: Objects[K]) => string | undefined,
    ][];
    this.indexes = fns.map(([name, key]) => {
      const ids = new Map<string, Set<string>>();
      this.index.set(name, ids);
      return { key, ids };
    });
  }

  get size(): number {
    return this.rows.size;
  }

  get(id: string): Objects[K] | undefined {
    return this.rows.get(id);
  }

  /** The id holding `name` (unique-name tables only). */
  idByName(name: string): string | undefined {
    return this.names.get(name);
  }

  /** All rows, ordered by id. */
  all(): Objects[K][] {
    if (!this.sortedIds) this.sortedIds = [...this.rows.keys()].sort();
    return this.sortedIds.map((id) => this.rows.get(id) as Objects[K]);
  }

  /** Ids under `key` in index `index`, unordered. */
  idsBy(index: Indexes[K], key: string): ReadonlySet<string> {
    return this.indexMap(index).get(key) ?? EMPTY;
  }

  put(o: Objects[K]): void {
    const old = this.rows.get(o.id);
    if (!old) this.sortedIds = undefined;
    this.rows.set(o.id, o);
    const def = TABLE_DEFS[this.table];
    if (def.uniqueNames) {
      if (old) this.dropName(old);
      this.names.set(def.name(o), o.id);
    }
    // Most writes change a task's status only: an index whose key stays is left alone (adding to and
    // deleting from sets of 100,000 ids was a large part of every apply).
    for (const { key: keyOf, ids: m } of this.indexes) {
      const key = keyOf(o);
      const was = old ? keyOf(old) : undefined;
      if (key === was) continue;
      if (was !== undefined) dropFromIndex(m, was, o.id);
      if (key === undefined) continue;
      const ids = m.get(key);
      if (ids) ids.add(o.id);
      else m.set(key, new Set([o.id]));
    }
  }

  delete(id: string): void {
    const old = this.rows.get(id);
    if (!old) return;
    if (TABLE_DEFS[this.table].uniqueNames) this.dropName(old);
    for (const { key: keyOf, ids } of this.indexes) {
      const key = keyOf(old);
      if (key !== undefined) dropFromIndex(ids, key, id);
    }
    this.rows.delete(id);
    this.sortedIds = undefined;
  }

  /** Frees `o`'s name unless another object holds it now. */
  private dropName(o: Objects[K]): void {
    const name = TABLE_DEFS[this.table].name(o);
    if (this.names.get(name) === o.id) this.names.delete(name);
  }

  private indexMap(name: string): Map<string, Set<string>> {
    const m = this.index.get(name);
    if (!m) throw new Error(`table ${this.table} has no index ${name}`);
    return m;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

export const sortById = <T extends { id: string }>(xs: T[]): T[] =>
  xs.sort((a, b) => compareText(a.id, b.id));

/** All the tables of one store state. */
export type Tables = { [K in TableName]: Table<K> };

export function emptyTables(): Tables {
  return {
    cluster: new Table('cluster'),
    node: new Table('node'),
    service: new Table('service'),
    task: new Table('task'),
    network: new Table('network'),
    secret: new Table('secret'),
    config: new Table('config'),
  };
}
