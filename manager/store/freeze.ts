// Stored objects are shared by every reader, so they are frozen: a reader that wants to change one clones it
// (`clone` in tables.ts) and writes the copy back through an update transaction.

/**
 * Freezes `o` and everything reachable from it, except byte arrays (typed arrays cannot be frozen). Frozen
 * parts are not walked again. Every stored object passes through here, so it allocates nothing (no
 * Object.values arrays): at 100,000 tasks that garbage was a visible part of the leader's collections.
 */
export function deepFreeze<T>(o: T): T {
  if (o === null || typeof o !== 'object' || ArrayBuffer.isView(o) || Object.isFrozen(o)) return o;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) deepFreeze(o[i]);
  } else {
    const r = o as Record<string, unknown>;
    for (const k in r) deepFreeze(r[k]);
  }
  return Object.freeze(o);
}
