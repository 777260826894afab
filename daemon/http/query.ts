// Typed query parameters. A value of the wrong type is a 400 naming the parameter, as dockerd's
// strconv errors are, instead of being read as "absent" or as some other number.
import { badRequest } from './errors.js';

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['', '0', 'false', 'no', 'off', 'none']);

/** Docker's boolean query values (1/true/yes, 0/false/no/none, case-insensitive); absent is the default. */
export function queryBool(q: URLSearchParams, key: string, dflt = false): boolean {
  const v = q.get(key);
  if (v === null) return dflt;
  const low = v.trim().toLowerCase();
  if (TRUE.has(low)) return true;
  if (FALSE.has(low)) return false;
  throw badRequest(`invalid ${key} "${v}": must be a boolean (1, true, 0 or false)`);
}

/** A decimal integer (as Go's strconv.Atoi: optional sign, digits only); absent or empty is undefined. */
export function queryInt(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!/^[+-]?[0-9]+$/.test(v) || !Number.isSafeInteger(n))
    throw badRequest(`invalid ${key} "${v}": must be an integer`);
  return n;
}
