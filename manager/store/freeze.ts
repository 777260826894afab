// Stored objects are shared by every reader, so they are frozen: a reader that wants to change one clones it
// (`clone` in tables.ts) and writes the copy back through an update transaction.

/** Freezes `o` and everything reachable from it, except byte arrays (typed arrays cannot be frozen). */
export function deepFreeze<T>(o: T): T {
  if (o === null || typeof o !== 'object' || ArrayBuffer.isView(o) || Object.isFrozen(o)) return o;
  for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}
