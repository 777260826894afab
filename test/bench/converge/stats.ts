// Samples per figure → the JSON's {median, samples}; a figure that could not be measured keeps its reason.

export interface Figure {
  samples: number[];
  /** Why a sample is missing (a step failed in that run). */
  errors?: string[];
  /** Why the figure is not measured at all on this topology. */
  reason?: string;
}

export type Figures = Record<string, Figure>;

export interface Summary {
  median: number | null;
  samples: number[];
  errors?: string[];
  reason?: string;
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export function summarize(f: Figures): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const [k, v] of Object.entries(f)) {
    const m = median(v.samples);
    out[k] = {
      median: m === null ? null : r3(m),
      samples: v.samples,
      ...(v.errors ? { errors: v.errors } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
    };
  }
  return out;
}

/** shoal median / peer median for every figure both have (smaller is better for all of them). */
export function ratios(
  a: Record<string, Summary>,
  b: Record<string, Summary>,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const k of Object.keys(a)) {
    const x = a[k].median;
    const y = b[k]?.median;
    if (y === undefined) continue;
    out[k] = x === null || y === null || y === 0 ? null : r3(x / y);
  }
  return out;
}
