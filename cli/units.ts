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

/** Docker's human durations ("Less than a second", "About a minute", "3 hours"). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}
