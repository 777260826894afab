// Applying one committed transaction to the tables: deterministic (no clock, no randomness, ordered input),
// and all-or-nothing (every action is checked against the state plus the earlier actions of the same
// transaction before anything is written).
import { invalidArgument, ShoalError } from '../../common/errors.js';
import { type StoreAction, StoreActionKind, type Transaction } from '../../proto/gen/shoal/swarm/v1/store.js';
import type { Meta } from '../../proto/gen/shoal/swarm/v1/types.js';
import type { ChangeKind, StoreEvent } from './events.js';
import { deepFreeze } from './freeze.js';
import {
  type Objects,
  objectName,
  type StoredObject,
  TABLE_DEFS,
  type TableName,
  type Tables,
} from './tables.js';
import { alreadyExists, checkObject, missing, nameTaken, staleVersion, versionOf } from './validate.js';

export type ApplyResult = { ok: true; events: StoreEvent[] } | { ok: false; error: ShoalError };

interface Staged {
  kind: ChangeKind;
  table: TableName;
  id: string;
  /** The new object; for remove, the stored one. */
  object: StoredObject;
  previous: StoredObject | undefined;
}

const KIND: Partial<Record<StoreActionKind, ChangeKind>> = {
  [StoreActionKind.STORE_ACTION_KIND_CREATE]: 'create',
  [StoreActionKind.STORE_ACTION_KIND_UPDATE]: 'update',
  [StoreActionKind.STORE_ACTION_KIND_REMOVE]: 'remove',
};

export function applyTransaction(tables: Tables, tx: Transaction, index: number): ApplyResult {
  const staged = new Map<string, Staged>();
  for (let i = 0; i < tx.actions.length; i++) {
    const r = stage(tables, staged, tx.actions[i], i, tx.timestamp, index);
    if (r) return { ok: false, error: r };
  }
  // Names are checked against the final state, so a batch may rename objects in any order.
  for (const s of staged.values()) {
    if (s.kind === 'remove' || !TABLE_DEFS[s.table].uniqueNames) continue;
    const name = objectName(s.table, s.object as Objects[typeof s.table]);
    const holder = nameHolder(tables, staged, s.table, name, s.id);
    if (holder !== undefined) return { ok: false, error: nameTaken(s.table, name, holder) };
  }
  const events: StoreEvent[] = [];
  for (const s of staged.values()) {
    const t = tables[s.table] as Tables[TableName];
    if (s.kind === 'remove') t.delete(s.id);
    else (t.put as (o: StoredObject) => void)(s.object);
    events.push({
      kind: s.kind,
      table: s.table,
      object: s.object,
      previous: s.previous,
      index,
    } as StoreEvent);
  }
  return { ok: true, events };
}

function stage(
  tables: Tables,
  staged: Map<string, Staged>,
  action: StoreAction,
  i: number,
  timestamp: number,
  index: number,
): ShoalError | undefined {
  const kind = KIND[action.kind];
  if (!kind) return invalidArgument(`actions[${i}].kind`, `unknown action kind ${action.kind}`);
  if (!action.target) return invalidArgument(`actions[${i}]`, 'the action names no object');
  const table = action.target.$case;
  const patch = action.fields.length > 0 ? patched(tables, table, action, i) : undefined;
  if (patch instanceof ShoalError) return patch;
  const o = patch ?? (action.target.value as StoredObject);
  const bad = checkObject(table, o);
  if (bad) return bad;
  const key = `${table}\0${o.id}`;
  if (staged.has(key))
    return invalidArgument(`actions[${i}]`, `${table} ${o.id} is changed twice in one transaction`);
  const current = tables[table].get(o.id) as StoredObject | undefined;

  if (kind === 'create' && current) return alreadyExists(table, o.id);
  if (kind !== 'create') {
    if (!current) return missing(table, o.id);
    if (versionOf(o) !== versionOf(current))
      return staleVersion(table, o.id, versionOf(o), versionOf(current));
  }
  if (kind === 'remove') {
    staged.set(key, { kind, table, id: o.id, object: current as StoredObject, previous: undefined });
    return undefined;
  }
  const meta: Meta = {
    version: index,
    createdAt: current?.meta?.createdAt ?? timestamp,
    updatedAt: timestamp,
  };
  const object = deepFreeze({ ...o, meta });
  staged.set(key, { kind, table, id: o.id, object, previous: current });
  return undefined;
}

/**
 * The stored object with the patch's fields (StoreAction.fields) taken from its target, and the target's meta
 * (the version it was read at): what the whole object would have been.
 */
function patched(
  tables: Tables,
  table: TableName,
  action: StoreAction,
  i: number,
): StoredObject | ShoalError {
  const target = action.target?.value as StoredObject;
  if (KIND[action.kind] !== 'update')
    return invalidArgument(`actions[${i}].fields`, 'only an update can carry some fields of its object');
  const current = tables[table].get(target.id) as StoredObject | undefined;
  if (!current) return missing(table, target.id);
  const from = target as unknown as Record<string, unknown>;
  const o: Record<string, unknown> = { ...current, meta: target.meta };
  for (const f of action.fields) {
    if (f === 'id' || f === 'meta' || !Object.hasOwn(current, f))
      return invalidArgument(`actions[${i}].fields`, `${f} is not a field of a ${table} an update can set`);
    o[f] = from[f];
  }
  return o as unknown as StoredObject;
}

/** Another object than `self` holding `name` in `table` once every staged action is taken into account. */
function nameHolder(
  tables: Tables,
  staged: Map<string, Staged>,
  table: TableName,
  name: string,
  self: string,
): string | undefined {
  for (const s of staged.values()) {
    if (s.table !== table || s.id === self || s.kind === 'remove') continue;
    if (objectName(table, s.object as Objects[typeof table]) === name) return s.id;
  }
  const id = tables[table].idByName(name);
  // A staged change of that object (rename or remove) overrides its stored name.
  if (id === undefined || id === self || staged.has(`${table}\0${id}`)) return undefined;
  return id;
}
