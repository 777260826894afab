// The filters every prune endpoint takes (containers, images, volumes, networks): until=TIMESTAMP (created
// before it), label=K[=V] and label!=K[=V] (must / must not carry the label).
import { parseTimestamp } from '../../common/time.js';
import { badRequest } from '../http/errors.js';
import { type Filters, parseFilterArgs } from './containers/filters.js';

export interface Prunable {
  /** Milliseconds since the epoch. */
  created: number;
  labels: Record<string, string> | null | undefined;
}

function hasLabel(labels: Prunable['labels'], spec: string): boolean {
  const eq = spec.indexOf('=');
  if (!labels) return false;
  if (eq < 0) return Object.hasOwn(labels, spec);
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/**
 * Parses a prune `filters` value; `extra` names endpoint-specific keys (images: dangling) that the caller
 * reads from the returned filters. The predicate says whether an object may be pruned.
 */
export function pruneFilter(
  raw: string | null,
  nowMs: number,
  extra: readonly string[] = [],
): { filters: Filters; matches: (x: Prunable) => boolean } {
  const filters = parseFilterArgs(raw, new Set(['until', 'label', 'label!', ...extra]));
  const until = (filters.until ?? []).map((v) => {
    const t = parseTimestamp(v, nowMs);
    if (t === undefined)
      throw badRequest(`invalid filter 'until=${v}': not a duration, unix time or RFC 3339 date`);
    return t;
  });
  const cutoff = until.length ? Math.min(...until) : undefined;
  return {
    filters,
    matches: (x) =>
      (cutoff === undefined || x.created < cutoff) &&
      (filters.label ?? []).every((l) => hasLabel(x.labels, l)) &&
      !(filters['label!'] ?? []).some((l) => hasLabel(x.labels, l)),
  };
}
