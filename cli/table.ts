// Column layout as the docker CLI's tabwriter (minwidth 10, padding 3); the last column is not padded.

export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  let cols = 0;
  for (const r of rows) cols = Math.max(cols, r.length);
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    let w = 10;
    for (const r of rows) w = Math.max(w, runeCount(r[c] ?? '') + 3);
    widths[c] = w;
  }
  let out = '';
  for (const r of rows) {
    for (let c = 0; c < r.length; c++) {
      const cell = r[c];
      out += c < r.length - 1 ? cell + ' '.repeat(Math.max(0, widths[c] - runeCount(cell))) : cell;
    }
    out += '\n';
  }
  return out;
}

const SURROGATE_PAIR = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;

/**
 * Characters (code points) in `s`, as the docker CLI's tabwriter counts runes. Most cells have no
 * surrogate pair and are counted by their length; spreading each cell into an array was a few ms of a
 * short command's table of a hundred rows.
 */
export function runeCount(s: string): number {
  if (!/[\uD800-\uDBFF]/.test(s)) return s.length;
  return s.length - (s.match(SURROGATE_PAIR)?.length ?? 0);
}

/** Docker's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  if (runeCount(s) <= max) return s;
  return `${[...s].slice(0, max - 1).join('')}…`;
}
