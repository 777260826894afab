// `shoal events [--since T] [--until T] [-f KEY=VALUE] [--format json]`: docker's event stream.
import type { Cli } from '../context.js';
import { parseCommand } from './common.js';
import { filtersQuery } from './ps.js';
import { timeFlag } from './service-values.js';

interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/** Docker's text line: `2026-11-22T10:00:00.123456789Z container start ID (image=…, name=…)`. */
export function eventLine(m: EventMessage): string {
  // timeNano exceeds 2^53: only its milliseconds are exact in a JS number.
  const ms = Math.round(m.timeNano / 1e6);
  const nanos = String((ms % 1000) * 1e6).padStart(9, '0');
  const time = `${new Date(ms).toISOString().slice(0, 19)}.${nanos}Z`;
  const attrs = Object.entries(m.Actor.Attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${time} ${m.Type} ${m.Action} ${m.Actor.ID}${attrs ? ` (${attrs})` : ''}`;
}

export async function events(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'events',
      usage: 'shoal events [OPTIONS]',
      description: 'Get real time events from the daemon',
      flags: [
        { long: 'since', type: 'string', help: 'Show all events created since timestamp' },
        { long: 'until', type: 'string', help: 'Stream events until this timestamp' },
        { long: 'filter', short: 'f', type: 'list', help: 'Filter output based on conditions provided' },
        { long: 'format', type: 'string', help: "Format output: 'json' for one JSON object per line" },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const res = await cli.client.open('GET', '/events', {
    query: {
      since: timeFlag('--since', f.strings.get('since')),
      until: timeFlag('--until', f.strings.get('until')),
      filters: filtersQuery(f.lists.get('filter') ?? []),
    },
  });
  const json = f.strings.get('format') === 'json';
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      if (line.trim()) cli.out.write(`${json ? line : eventLine(JSON.parse(line) as EventMessage)}\n`);
    }
  }
  return 0;
}
