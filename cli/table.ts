// Column layout as the docker CLI's tabwriter (minwidth 10, padding 3); the last column is not padded.

export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    widths[c] = Math.max(10, ...rows.map((r) => [...(r[c] ?? '')].length + 3));
  }
  return rows
    .map((r) =>
      r
        .map((cell, c) =>
          c < r.length - 1 ? cell + ' '.repeat(Math.max(0, widths[c] - [...cell].length)) : cell,
        )
        .join(''),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Docker's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}
