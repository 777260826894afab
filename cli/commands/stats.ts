// `shoal stats [--no-stream] [-a] [CONTAINER...]`: docker's columns and cpu/memory arithmetic.
import type { Cli } from '../context.js';
import { formatTable } from '../table.js';
import { bytesSize, humanSize } from '../units.js';
import { parseCommand } from './common.js';

interface CpuJson {
  cpu_usage: { total_usage: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

export interface StatsJson {
  name: string;
  id: string;
  cpu_stats: CpuJson;
  precpu_stats: CpuJson;
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
}

/** One table row from a stats sample, with docker's formulas. */
export function statsRow(s: StatsJson, trunc = true): string[] {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpuPct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
  const usage = Math.max(
    0,
    (s.memory_stats.usage ?? 0) - (inactive < (s.memory_stats.usage ?? 0) ? inactive : 0),
  );
  const limit = s.memory_stats.limit ?? 0;
  const memPct = limit > 0 ? (usage / limit) * 100 : 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let rd = 0;
  let wr = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') rd += e.value;
    if (e.op.toLowerCase() === 'write') wr += e.value;
  }
  return [
    trunc ? s.id.slice(0, 12) : s.id,
    s.name.replace(/^\//, ''),
    `${cpuPct.toFixed(2)}%`,
    `${bytesSize(usage)} / ${bytesSize(limit)}`,
    `${memPct.toFixed(2)}%`,
    `${humanSize(rx)} / ${humanSize(tx)}`,
    `${humanSize(rd)} / ${humanSize(wr)}`,
    String(s.pids_stats.current ?? 0),
  ];
}

const HEADER = [
  'CONTAINER ID',
  'NAME',
  'CPU %',
  'MEM USAGE / LIMIT',
  'MEM %',
  'NET I/O',
  'BLOCK I/O',
  'PIDS',
];

export async function stats(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'stats',
      usage: 'shoal stats [OPTIONS] [CONTAINER...]',
      description: 'Display a live stream of container(s) resource usage statistics',
      flags: [
        { long: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
        { long: 'no-stream', type: 'bool', help: 'Disable streaming stats and only pull the first result' },
        { long: 'no-trunc', type: 'bool', help: "Don't truncate output" },
      ],
    },
    args,
  );
  if (!f) return 0;
  let refs = f.positionals;
  if (refs.length === 0) {
    const list = await cli.client.get<{ Id: string; State: string }[]>('/containers/json', {
      all: f.bools.has('all'),
    });
    refs = list.filter((c) => c.State === 'running' || c.State === 'paused').map((c) => c.Id);
  }
  const trunc = !f.bools.has('no-trunc');
  const sample = async () => {
    const rows = [HEADER];
    let status = 0;
    await Promise.all(
      refs.map(async (ref, i) => {
        try {
          const s = await cli.client.get<StatsJson>(`/containers/${encodeURIComponent(ref)}/stats`, {
            stream: '0',
          });
          rows[i + 1] = statsRow(s, trunc);
        } catch (err) {
          cli.err.write(`Error response from daemon: ${(err as Error).message}\n`);
          status = 1;
        }
      }),
    );
    return { table: formatTable(rows.filter(Boolean)), status };
  };
  if (f.bools.has('no-stream')) {
    const { table, status } = await sample();
    cli.out.write(table);
    return status;
  }
  return follow(cli, refs, trunc);
}

/** How often the streaming display redraws (docker's: every 500 ms), whatever the samples' pace. */
const REDRAW_MS = 500;

/**
 * The streaming display: one stats stream per container (the daemon sends a sample a second), the
 * screen redrawn from the latest sample of each every REDRAW_MS until interrupted.
 */
async function follow(cli: Cli, refs: string[], trunc: boolean): Promise<number> {
  const rows = new Map<string, string[]>();
  const streams = refs.map(async (ref) => {
    try {
      const res = await cli.client.open('GET', `/containers/${encodeURIComponent(ref)}/stats`, {
        query: { stream: '1' },
      });
      let buf = '';
      for await (const chunk of res) {
        buf += String(chunk);
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) rows.set(ref, statsRow(JSON.parse(line) as StatsJson, trunc));
          nl = buf.indexOf('\n');
        }
      }
    } catch (err) {
      cli.err.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  });
  const draw = () => {
    const table = formatTable([
      HEADER,
      ...refs.flatMap((r) => (rows.has(r) ? [rows.get(r) as string[]] : [])),
    ]);
    cli.out.write(`\x1b[2J\x1b[H${table}`);
  };
  const timer = setInterval(draw, REDRAW_MS);
  // Every stream ended (the containers are gone or the daemon stopped): one last frame, then done.
  await Promise.all(streams);
  clearInterval(timer);
  draw();
  return 0;
}
