// GET /containers/json filters: `{"name":{"c1":true},"status":{"running":true},"id":{…},"label":{"k=v":true}}`.

import { parseBoundedJson } from '../../../common/bounded-json.js';
import type { Container } from '../../../worker/engine/index.js';
import { badRequest, notFound } from '../../http/errors.js';

export type Filters = Record<string, string[]>;

const KNOWN = new Set([
  'name',
  'id',
  'status',
  'label',
  'health',
  'volume',
  'ancestor',
  'before',
  'since',
  'exited',
  'is-task',
]);
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
    if (key === 'exited')
      for (const v of values) if (!/^-?\d+$/.test(v)) throw badRequest(`invalid filter 'exited=${v}'`);
    if (key === 'is-task')
      for (const v of values)
        if (v !== 'true' && v !== 'false') throw badRequest(`invalid filter 'is-task=${v}'`);
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

/** What the container filters need to know beyond the container itself. */
export interface FilterContext {
  /** A container by name or id (prefix), for before= and since=; undefined when there is none. */
  container(ref: string): Container | undefined;
  /** An image reference or id → its id, for ancestor=; undefined when it names no image. */
  imageId(ref: string): string | undefined;
}

const SWARM_TASK_LABEL = 'com.docker.swarm.task';

/**
 * The predicate of a parsed filter set: each key must match (AND); within a key any value may match (OR),
 * labels excepted (all must match). before=/since= name containers that must exist (a 404 otherwise, as
 * dockerd); ancestor= matches the image by name or id (descendant images are not followed: shoal images
 * record no parent).
 */
export function containerFilter(f: Filters, ctx: FilterContext): (c: Container) => boolean {
  const anchor = (ref: string) => {
    const c = ctx.container(ref);
    if (!c) throw notFound(`No such container: ${ref}`);
    return Date.parse(c.created);
  };
  const before = f.before?.length ? Math.min(...f.before.map(anchor)) : undefined;
  const since = f.since?.length ? Math.max(...f.since.map(anchor)) : undefined;
  const ancestors = f.ancestor?.map((a) => ({ ref: a, id: ctx.imageId(a) }));
  const exited = f.exited?.map(Number);
  return (c) => {
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
    const created = Date.parse(c.created);
    if (before !== undefined && created >= before) return false;
    if (since !== undefined && created <= since) return false;
    if (exited && (c.state.status !== 'exited' || !exited.includes(c.state.exitCode))) return false;
    if (f['is-task']?.length) {
      const isTask = Object.hasOwn(c.config.labels ?? {}, `${SWARM_TASK_LABEL}.id`);
      if (!f['is-task'].includes(String(isTask))) return false;
    }
    if (ancestors && !ancestors.some((a) => (a.id !== undefined && c.imageId === a.id) || c.image === a.ref))
      return false;
    return true;
  };
}
