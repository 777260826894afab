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

/**
 * A point in time as the Engine API takes it (`since`, `until`): unix seconds (fractions allowed) or RFC 3339,
 * in unix seconds ("0" is the epoch); absent or empty is undefined. The CLI turns relative values ("10m")
 * into seconds before sending.
 */
export function queryTime(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) return Number(v);
  // Date.parse alone is lenient ("-5" is May 2001): only a date that starts as RFC 3339's does is read.
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw badRequest(`invalid ${key} "${v}": use unix seconds or RFC3339`);
  return t / 1000;
}

/** The logs' `tail`: a number of lines, or undefined for all of them ("all", absent, or negative, as dockerd). */
export function queryTail(q: URLSearchParams): number | undefined {
  const v = q.get('tail');
  if (v === null || v === '' || v === 'all') return undefined;
  const n = Number(v);
  if (!/^-?[0-9]+$/.test(v) || !Number.isSafeInteger(n))
    throw badRequest(`invalid tail "${v}": use a number or "all"`);
  return n < 0 ? undefined : n;
}
