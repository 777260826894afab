// `shoal ps [-a] [-q] [--no-trunc] [-f KEY=VALUE] [-n N] [-l]`: docker's table and filters.

import { humanDuration } from '../../common/humanize.js';
import type { Cli } from '../context.js';
import { FlagError } from '../flags.js';
import { ellipsis, formatTable } from '../table.js';
import { renderTemplate } from '../template.js';
import { intArg, parseCommand } from './common.js';

interface ListEntry {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Status: string;
  State: string;
  Labels?: Record<string, string> | null;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

/** `-f name=c1 -f status=running` → `{"name":{"c1":true},"status":{"running":true}}` (keys sorted). */
export function filtersQuery(items: string[]): string | undefined {
  if (items.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw new FlagError(
        `invalid argument "${item}" for "-f, --filter" flag: bad format of filter (expected name=value)`,
      );
    const key = item.slice(0, eq).toLowerCase();
    out[key] ??= {};
    out[key][item.slice(eq + 1)] = true;
  }
  const sorted = Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
  return JSON.stringify(sorted);
}

export async function ps(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'ps',
      usage: 'shoal ps [OPTIONS]',
      description: 'List containers',
      flags: [
        { long: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
        { long: 'quiet', short: 'q', type: 'bool', help: 'Only display container IDs' },
        { long: 'no-trunc', type: 'bool', help: "Don't truncate output" },
        { long: 'filter', short: 'f', type: 'list', help: 'Filter output based on conditions provided' },
        {
          long: 'last',
          short: 'n',
          type: 'string',
          value: 'int',
          help: 'Show n last created containers (includes all states)',
        },
        {
          long: 'latest',
          short: 'l',
          type: 'bool',
          help: 'Show the latest created container (includes all states)',
        },
        {
          long: 'format',
          type: 'string',
          help: "Format output: 'table TEMPLATE', 'json', or a template ({{.Names}})",
        },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  let filters: string | undefined;
  try {
    filters = filtersQuery(f.lists.get('filter') ?? []);
  } catch (err) {
    cli.err.write(`${(err as Error).message}\n`);
    return 1;
  }
  const last = f.bools.has('latest') ? 1 : intArg(f.strings.get('last'), '-n, --last', 'ps');
  const all = f.bools.has('all') || (last !== undefined && last > 0);
  const list = await cli.client.get<ListEntry[]>('/containers/json', {
    all,
    limit: last !== undefined && last > 0 ? last : undefined,
    filters,
  });
  const trunc = !f.bools.has('no-trunc');
  const shortId = (id: string) => (trunc ? id.slice(0, 12) : id);
  if (f.bools.has('quiet')) {
    cli.out.write(list.map((c) => `${shortId(c.Id)}\n`).join(''));
    return 0;
  }
  const now = Date.now();
  const rows = list.map((c) => psFields(c, now, trunc));
  const format = f.strings.get('format');
  if (format === undefined || format === 'table') {
    cli.out.write(
      formatTable([
        DEFAULT_COLUMNS.map((k) => HEADERS[k]),
        ...rows.map((r) => DEFAULT_COLUMNS.map((k) => r[k])),
      ]),
    );
    return 0;
  }
  if (format === 'json') {
    cli.out.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return 0;
  }
  try {
    if (format.startsWith('table ')) {
      const template = format.slice('table '.length).replace(/\\t/g, '\t');
      const header = renderTemplate(template, Object.fromEntries(Object.entries(HEADERS)));
      const lines = [header, ...rows.map((r) => renderTemplate(template, r))];
      cli.out.write(formatTable(lines.map((l) => l.split('\t'))));
    } else {
      const template = format.replace(/\\t/g, '\t');
      cli.out.write(rows.map((r) => `${renderTemplate(template, r)}\n`).join(''));
    }
  } catch (err) {
    cli.err.write(`${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}

type Field =
  | 'ID'
  | 'Image'
  | 'Command'
  | 'CreatedAt'
  | 'RunningFor'
  | 'Ports'
  | 'State'
  | 'Status'
  | 'Names'
  | 'Labels';

const HEADERS: Record<Field, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Names: 'NAMES',
  Labels: 'LABELS',
};

const DEFAULT_COLUMNS: Field[] = ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names'];

/** The fields docker's ps templates know, as strings the way the table shows them. */
function psFields(c: ListEntry, now: number, trunc: boolean): Record<Field, string> {
  const names = c.Names.map((n) => n.replace(/^\//, '')).filter((n) => !trunc || !n.includes('/'));
  const ports = (c.Ports ?? [])
    .map((p) =>
      p.PublicPort
        ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
        : `${p.PrivatePort}/${p.Type}`,
    )
    .join(', ');
  return {
    ID: trunc ? c.Id.slice(0, 12) : c.Id,
    Image: c.Image,
    Command: JSON.stringify(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: new Date(c.Created * 1000).toISOString(),
    RunningFor: `${humanDuration(now - c.Created * 1000)} ago`,
    Ports: ports,
    State: c.State,
    Status: c.Status,
    Names: names.join(','),
    Labels: Object.entries(c.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  };
}
