// Durations and timestamps as docker writes them on command lines and in API filters.

// \u00b5s: the bundles are ASCII (a one-byte source string in V8, half the memory of a two-byte one)
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  '\u00b5s': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration ("1m30s", "500ms", "0") → nanoseconds; undefined when it does not parse. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = /^([-+])?((?:\d*\.?\d+(?:ns|us|\u00b5s|ms|s|m|h))+)$/.exec(text);
  if (!m) return undefined;
  let total = 0;
  for (const part of m[2].matchAll(/(\d*\.?\d+)(ns|us|\u00b5s|ms|s|m|h)/g))
    total += Number(part[1]) * UNIT_NS[part[2]];
  return Math.round(m[1] === '-' ? -total : total);
}

/**
 * A point in time as docker's `until`/`since` values give it (its timetypes.GetTimestamp): a Go duration
 * counted back from now ("24h", "10m"), unix seconds (fractions allowed), or an RFC 3339 date or
 * date-time. Milliseconds since the epoch; undefined when the text is none of these.
 */
export function parseTimestamp(text: string, nowMs: number): number | undefined {
  const ns = parseGoDuration(text);
  if (ns !== undefined) return nowMs - ns / 1e6;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}
