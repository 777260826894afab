// Size and CPU values as the docker CLI reads and prints them. Pure.

// Parsing lives in common/ (the stack loader needs it too).
export { parseBytes, parseNanoCpus } from '../common/units.js';

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
