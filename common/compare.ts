// Text ordering for identifiers, names and addresses: by UTF-16 code units, as Go compares strings. The same
// on every machine, and without ICU: localeCompare loads its collation data, ~2 MB of a daemon's memory.

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
