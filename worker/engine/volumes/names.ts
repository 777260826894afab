// Volume names and filters, as dockerd's local driver has them. Pure.
import { EngineError } from '../errors.js';

/** dockerd's local-driver name rule: at least two characters, no "/" (a "/" means a host path). */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export function checkVolumeName(name: string, field = 'Name'): string {
  if (!VOLUME_NAME_RE.test(name))
    throw new EngineError(
      'invalid_argument',
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      { field },
    );
  return name;
}

/** `label=k`, `label=k=v` (and `label!=…` as dockerd's prune) against a volume's labels. */
export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  const key = filter.slice(0, eq);
  return Object.hasOwn(labels, key) && labels[key] === filter.slice(eq + 1);
}

export interface VolumeFilters {
  name?: string[];
  driver?: string[];
  label?: string[];
  /** label!= (prune): volumes with such a label are kept. */
  labelNot?: string[];
  dangling?: boolean;
}

const FILTER_KEYS = new Set(['name', 'driver', 'label', 'label!', 'dangling']);

/** Docker's `filters` JSON (`{"label":{"a=b":true}}` or `{"label":["a=b"]}`) → VolumeFilters. */
export function parseVolumeFilters(raw: string | null | undefined, allowed = FILTER_KEYS): VolumeFilters {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new EngineError('invalid_argument', `invalid filters: ${raw} is not JSON`, { field: 'filters' });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new EngineError('invalid_argument', 'invalid filters: not an object', { field: 'filters' });
  const out: VolumeFilters = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.has(key))
      throw new EngineError('invalid_argument', `invalid filter '${key}'`, { field: 'filters' });
    const values = Array.isArray(value)
      ? value.map(String)
      : value && typeof value === 'object'
        ? Object.keys(value)
        : [String(value)];
    if (key === 'dangling') {
      const v = values[values.length - 1]?.toLowerCase();
      if (v === 'true' || v === '1') out.dangling = true;
      else if (v === 'false' || v === '0') out.dangling = false;
      else
        throw new EngineError('invalid_argument', `invalid filter 'dangling=${values[0]}'`, {
          field: 'filters',
        });
    } else if (key === 'label!') out.labelNot = values;
    else out[key as 'name' | 'driver' | 'label'] = values;
  }
  return out;
}

/** Whether a volume passes the filters (name: substring, as dockerd). */
export function volumeMatches(
  v: { name: string; driver: string; labels: Record<string, string> },
  inUse: boolean,
  f: VolumeFilters,
): boolean {
  if (f.name && !f.name.some((n) => v.name.includes(n))) return false;
  if (f.driver && !f.driver.includes(v.driver)) return false;
  if (f.label && !f.label.every((l) => labelMatches(v.labels, l))) return false;
  if (f.labelNot?.some((l) => labelMatches(v.labels, l))) return false;
  if (f.dangling !== undefined && f.dangling === inUse) return false;
  return true;
}
