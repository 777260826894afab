// The checks a write must pass, shared by the proposing transaction (fail early, nothing proposed) and by
// apply (the authority: the state may have moved between proposal and commit).
import { conflict, invalidArgument, notFound, type ShoalError } from '../../common/errors.js';
import { type Objects, objectName, type StoredObject, TABLE_DEFS, type TableName } from './tables.js';

const MAX_ID_LENGTH = 128;

/** The object's own shape: an id, and a name where the table's names are unique. */
export function checkObject(table: TableName, o: StoredObject): ShoalError | undefined {
  if (typeof o.id !== 'string' || o.id === '') return invalidArgument('id', `a ${table} needs an id`);
  if (o.id.length > MAX_ID_LENGTH) return invalidArgument('id', `longer than ${MAX_ID_LENGTH} characters`);
  if (TABLE_DEFS[table].uniqueNames && objectName(table, o as Objects[typeof table]) === '') {
    return invalidArgument('spec.annotations.name', `a ${table} needs a name`);
  }
  // Secret data is sealed before it is proposed (controlapi): plaintext must never reach the log.
  if (table === 'secret' && ((o as Objects['secret']).spec?.data?.length ?? 0) > 0)
    return invalidArgument('spec.data', 'a stored secret carries sealed data only, never plaintext');
  return undefined;
}

export const versionOf = (o: StoredObject): number => o.meta?.version ?? 0;

/** Errors naming the object, so a caller retrying a batch knows which write lost. */
export const alreadyExists = (table: TableName, id: string) =>
  conflict(`${table} ${id} already exists`, 'id');

export const nameTaken = (table: TableName, name: string, holder: string) =>
  conflict(`${table} name "${name}" is already in use by ${table} ${holder}`, 'spec.annotations.name');

export const missing = (table: TableName, id: string) => notFound(`${table} ${id} not found`, 'id');

export const staleVersion = (table: TableName, id: string, given: number, stored: number) =>
  conflict(
    `${table} ${id} was changed concurrently: the write is based on version ${given}, the stored version is ${stored}`,
    'meta.version',
  );
