// GET /containers/{id}/top?ps_args=…: as dockerd, the host's `ps` output, restricted to the
// processes in the container's cgroup. Parsing is pure; running ps is the caller's.
import { ShoalError } from '../../../common/errors.js';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/**
 * Splits `ps` output into titles and rows, keeping rows whose PID is in `pids`. Columns are split on
 * whitespace except the last (CMD), which keeps its spaces. Throws when there is no PID column.
 */
export function parsePs(output: string, pids: Set<number>): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new ShoalError('internal', 'ps printed nothing');
  const titles = lines[0].trim().split(/\s+/);
  const pidCol = titles.indexOf('PID');
  if (pidCol < 0) throw new ShoalError('internal', `Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const row = [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
    if (pids.has(Number(row[pidCol]))) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}
