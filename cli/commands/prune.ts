// `shoal container prune` and `shoal system df`: what stopped containers and unused data take, and removing
// it, as the docker CLI prints them.
import type { CommandFn } from '../context.js';
import { formatTable } from '../table.js';
import { humanSize } from '../units.js';
import { confirm, parseCommand, runSubcommand } from './common.js';
import { filtersQuery } from './ps.js';

const FILTER = {
  long: 'filter',
  type: 'list',
  help: 'Provide filter values (e.g. "until=<timestamp>")',
} as const;
const FORCE = { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' } as const;

export const containerPrune: CommandFn = async (cli, args) => {
  const f = parseCommand(
    cli,
    {
      name: 'container prune',
      usage: 'shoal container prune [OPTIONS]',
      description: 'Remove all stopped containers',
      flags: [FILTER, FORCE],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const filters = filtersQuery(f.lists.get('filter') ?? []);
  if (!f.bools.has('force') && !(await confirm(cli, 'This will remove all stopped containers.'))) return 0;
  const r = await cli.client.post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
    '/containers/prune',
    { filters },
  );
  if (r.ContainersDeleted?.length)
    cli.out.write(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
  cli.out.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  return 0;
};

interface DiskUsage {
  LayersSize: number;
  Images: { Containers: number; Size: number; SharedSize: number }[];
  Containers: { State: string; SizeRw: number }[];
  Volumes: { UsageData?: { Size: number; RefCount: number } }[];
  BuildCache: { InUse: boolean; Size: number; Shared: boolean }[] | null;
}

/** "1.2MB (40%)" as docker's system df shows a reclaimable share of a total. */
function share(part: number, total: number): string {
  return total > 0 ? `${humanSize(part)} (${Math.floor((part * 100) / total)}%)` : humanSize(part);
}

/** The four rows of `system df`, computed as the docker CLI computes them from GET /system/df. */
export function diskUsageRows(d: DiskUsage): string[][] {
  const used = d.Images.filter((i) => i.Containers > 0 && i.SharedSize !== -1).reduce(
    (n, i) => n + i.Size - i.SharedSize,
    0,
  );
  const rwTotal = d.Containers.reduce((n, c) => n + c.SizeRw, 0);
  const rwIdle = d.Containers.filter((c) => c.State !== 'running' && c.State !== 'paused').reduce(
    (n, c) => n + c.SizeRw,
    0,
  );
  const volumeSize = (v: DiskUsage['Volumes'][number]) => Math.max(0, v.UsageData?.Size ?? 0);
  const volTotal = d.Volumes.reduce((n, v) => n + volumeSize(v), 0);
  const volIdle = d.Volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce(
    (n, v) => n + volumeSize(v),
    0,
  );
  const cache = d.BuildCache ?? [];
  const cacheTotal = cache.reduce((n, c) => n + (c.Shared ? 0 : c.Size), 0);
  const cacheIdle = cache.filter((c) => !c.InUse && !c.Shared).reduce((n, c) => n + c.Size, 0);
  return [
    ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
    [
      'Images',
      String(d.Images.length),
      String(d.Images.filter((i) => i.Containers > 0).length),
      humanSize(d.LayersSize),
      share(d.LayersSize - used, d.LayersSize),
    ],
    [
      'Containers',
      String(d.Containers.length),
      String(d.Containers.filter((c) => c.State === 'running' || c.State === 'paused').length),
      humanSize(rwTotal),
      share(rwIdle, rwTotal),
    ],
    [
      'Local Volumes',
      String(d.Volumes.length),
      String(d.Volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      humanSize(volTotal),
      share(volIdle, volTotal),
    ],
    [
      'Build Cache',
      String(cache.length),
      String(cache.filter((c) => c.InUse).length),
      humanSize(cacheTotal),
      humanSize(cacheIdle),
    ],
  ];
}

const df: CommandFn = async (cli, args) => {
  const f = parseCommand(
    cli,
    {
      name: 'system df',
      usage: 'shoal system df',
      description: 'Show docker disk usage',
      flags: [],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  cli.out.write(formatTable(diskUsageRows(await cli.client.get<DiskUsage>('/system/df'))));
  return 0;
};

/** docker's warning, as it lists what `system prune` removes. */
function systemPruneWarning(all: boolean, volumes: boolean): string {
  return [
    'This will remove:',
    '  - all stopped containers',
    '  - all networks not used by at least one container',
    ...(volumes ? ['  - all volumes not used by at least one container'] : []),
    all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    all ? '  - all build cache' : '  - unused build cache',
    '',
  ].join('\n');
}

/** `shoal system prune`: containers, networks, (volumes,) images and build cache, as the docker CLI does it. */
const systemPrune: CommandFn = async (cli, args) => {
  const f = parseCommand(
    cli,
    {
      name: 'system prune',
      usage: 'shoal system prune [OPTIONS]',
      description: 'Remove unused data',
      flags: [
        { long: 'all', short: 'a', type: 'bool', help: 'Remove all unused images not just dangling ones' },
        FILTER,
        FORCE,
        { long: 'volumes', type: 'bool', help: 'Prune volumes' },
      ],
      maxArgs: 0,
    },
    args,
  );
  if (!f) return 0;
  const all = f.bools.has('all');
  const volumes = f.bools.has('volumes');
  const given = f.lists.get('filter') ?? [];
  if (!f.bools.has('force') && !(await confirm(cli, systemPruneWarning(all, volumes)))) return 0;
  const filters = filtersQuery(given);
  let reclaimed = 0;
  const section = (title: string, lines: string[] | null | undefined) => {
    if (lines?.length) cli.out.write(`${title}:\n${lines.join('\n')}\n\n`);
  };
  const c = await cli.client.post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
    '/containers/prune',
    { filters },
  );
  section('Deleted Containers', c.ContainersDeleted);
  reclaimed += c.SpaceReclaimed;
  const n = await cli.client.post<{ NetworksDeleted: string[] | null }>('/networks/prune', { filters });
  section('Deleted Networks', n.NetworksDeleted);
  if (volumes) {
    const v = await cli.client.post<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
      '/volumes/prune',
      { filters },
    );
    section('Deleted Volumes', v.VolumesDeleted);
    reclaimed += v.SpaceReclaimed;
  }
  const i = await cli.client.post<{
    ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null;
    SpaceReclaimed: number;
  }>('/images/prune', { filters: filtersQuery([...(all ? ['dangling=false'] : []), ...given]) });
  section(
    'Deleted Images',
    i.ImagesDeleted?.map((e) => (e.Untagged ? `untagged: ${e.Untagged}` : `deleted: ${e.Deleted}`)),
  );
  reclaimed += i.SpaceReclaimed;
  const b = await cli.client.post<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>(
    '/build/prune',
    { filters, ...(all ? { all: true } : {}) },
  );
  section('Deleted build cache objects', b.CachesDeleted);
  reclaimed += b.SpaceReclaimed;
  cli.out.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
  return 0;
};

const SYSTEM_USAGE = `
Usage:  shoal system COMMAND

Manage shoal

Commands:
  df          Show disk usage
  info        Display system-wide information
  prune       Remove unused data

Run 'shoal system COMMAND --help' for more information on a command.
`;

/** `shoal system df|info|prune` */
export const system: CommandFn = async (cli, args) =>
  runSubcommand(cli, args, 'system', SYSTEM_USAGE, {
    df,
    prune: systemPrune,
    info: (await import('./system.js')).info,
  });
