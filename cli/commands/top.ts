// `shoal top CONTAINER [ps OPTIONS]`: the container's processes, as the host's ps shows them.
import type { Cli } from '../context.js';
import { formatTable } from '../table.js';
import { parseCommand } from './common.js';

export async function top(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'top',
      usage: 'shoal top CONTAINER [ps OPTIONS]',
      description: 'Display the running processes of a container',
      flags: [],
      interspersed: false,
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const [ref, ...psArgs] = f.positionals;
  const r = await cli.client.get<{ Titles: string[]; Processes: string[][] }>(
    `/containers/${encodeURIComponent(ref)}/top`,
    {
      ps_args: psArgs.length ? psArgs.join(' ') : undefined,
    },
  );
  cli.out.write(formatTable([r.Titles, ...r.Processes]));
  return 0;
}
