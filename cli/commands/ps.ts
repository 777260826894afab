// `shoal ps [-a] [-q] [--no-trunc] [-f KEY=VALUE] [-n N] [-l]`: docker's table and filters.
import type { Cli } from '../context.js';
import { ellipsis, formatTable } from '../table.js';
import { humanDuration } from '../units.js';
import { intArg, parseCommand } from './common.js';

interface ListEntry {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Status: string;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

/** `-f name=c1 -f status=running` → `{"name":{"c1":true},"status":{"running":true}}` (keys sorted). */
export function filtersQuery(items: string[]): string | undefined {
  if (items.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`bad format of filter (expected name=value): ${item}`);
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
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of list) {
    const names = c.Names.map((n) => n.replace(/^\//, '')).filter((n) => !trunc || !n.includes('/'));
    const ports = (c.Ports ?? [])
      .map((p) =>
        p.PublicPort
          ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
          : `${p.PrivatePort}/${p.Type}`,
      )
      .join(', ');
    rows.push([
      shortId(c.Id),
      c.Image,
      JSON.stringify(trunc ? ellipsis(c.Command, 20) : c.Command),
      `${humanDuration(now - c.Created * 1000)} ago`,
      c.Status,
      ports,
      names.join(','),
    ]);
  }
  cli.out.write(formatTable(rows));
  return 0;
}
