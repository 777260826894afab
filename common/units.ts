// Size and CPU values as docker reads them (CLI flags, compose files). Pure.

const BINARY: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** "512m", "1g", "1.5GiB", "1024" → bytes (binary units, as docker's RAMInBytes); undefined when unparsable. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * BINARY[(m[2] ?? '').toLowerCase()]);
}

/** "1.5" → 1500000000 nano-CPUs; undefined when not a positive decimal. */
export function parseNanoCpus(text: string): number | undefined {
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(text.trim())) return undefined;
  const n = Math.round(Number(text) * 1e9);
  return n > 0 ? n : undefined;
}
