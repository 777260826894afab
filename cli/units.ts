// Size and CPU values as the docker CLI reads and prints them. Pure.

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

function formatSig(value: number): string {
  // Go's %.4g
  return Number(value.toPrecision(4)).toString();
}

/** 1536 → "1.5KiB" (docker's BytesSize). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${formatSig(v)}${units[i]}`;
}

/** 1500 → "1.5kB" (docker's HumanSize, decimal). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3)).toString()}${units[i]}`;
}
