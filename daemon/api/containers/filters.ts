// GET /containers/json filters: `{"name":{"c1":true},"status":{"running":true},"id":{…},"label":{"k=v":true}}`.

import { parseBoundedJson } from '../../../common/bounded-json.js';
import type { Container } from '../../../worker/engine/index.js';
import { badRequest } from '../../http/errors.js';

export type Filters = Record<string, string[]>;

const KNOWN = new Set(['name', 'id', 'status', 'label', 'health', 'volume']);
const HEALTH = new Set(['starting', 'healthy', 'unhealthy', 'none']);
const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

/**
 * Docker's `filters` query value as key → values, in the map form `{"name":{"c1":true}}` or the
 * older list form `{"name":["c1"]}`; anything else is a 400. Keys outside `known` are refused.
 */
export function parseFilterArgs(raw: string | null, known: ReadonlySet<string>): Filters {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = parseBoundedJson(raw, 4);
  } catch {
    throw badRequest(`invalid filters: not JSON of the form {"key":{"value":true}}: ${raw.slice(0, 200)}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw badRequest('invalid filters: expected an object');
  const out: Filters = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!known.has(key)) throw badRequest(`invalid filter '${key}'`);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[key] = value;
    else if (value && typeof value === 'object' && !Array.isArray(value))
      out[key] = Object.entries(value as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    else throw badRequest(`invalid filter '${key}': expected {"value":true} or a list of strings`);
  }
  return out;
}

/** Parses the `filters` query value of GET /containers/json. */
export function parseFilters(raw: string | null): Filters {
  const out = parseFilterArgs(raw, KNOWN);
  for (const [key, values] of Object.entries(out)) {
    if (key === 'status') {
      for (const v of values) {
        if (!STATUSES.has(v)) throw badRequest(`invalid filter 'status=${v}'`);
      }
    }
    if (key === 'health')
      for (const v of values)
        if (!HEALTH.has(v))
          throw badRequest(
            `Unrecognised filter value for health: ${v} (use starting, healthy, unhealthy or none)`,
          );
  }
  return out;
}

function matchesName(c: Container, pattern: string): boolean {
  // Docker treats the value as a regular expression over "/name"; fall back to a substring on bad regexps.
  try {
    return new RegExp(pattern).test(`/${c.name}`);
  } catch {
    return c.name.includes(pattern);
  }
}

function matchesLabel(c: Container, spec: string): boolean {
  const eq = spec.indexOf('=');
  const labels = c.config.labels ?? {};
  if (eq < 0) return Object.hasOwn(labels, spec);
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/** Each filter key must match (AND); within a key any value may match (OR), labels excepted (all must match). */
export function matchesFilters(c: Container, f: Filters): boolean {
  if (f.name?.length && !f.name.some((p) => matchesName(c, p))) return false;
  if (f.id?.length && !f.id.some((p) => c.id.startsWith(p))) return false;
  if (f.status?.length && !f.status.includes(c.state.status)) return false;
  if (f.health?.length && !f.health.includes(c.state.health?.status ?? 'none')) return false;
  if (f.label?.length && !f.label.every((l) => matchesLabel(c, l))) return false;
  // volume=NAME or volume=/destination, as dockerd.
  if (
    f.volume?.length &&
    !c.mounts.some((m) => f.volume.includes(m.name ?? '') || f.volume.includes(m.destination))
  )
    return false;
  return true;
}
