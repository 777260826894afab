// `shoal logs [-f] [--tail N] [-t] [--since] [--until] CONTAINER`: as the docker CLI, inspect first
// (for the TTY setting), then stream the logs, demultiplexing unless the container has a TTY.
import type { Cli } from '../context.js';
import { pumpOutput } from '../stdio.js';
import { inspectContainer, parseCommand } from './common.js';
import { timeFlag } from './service-values.js';

export async function logs(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'logs',
      usage: 'shoal logs [OPTIONS] CONTAINER',
      description: 'Fetch the logs of a container',
      flags: [
        { long: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
        {
          long: 'tail',
          short: 'n',
          type: 'string',
          help: 'Number of lines to show from the end of the logs (default "all")',
        },
        { long: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
        {
          long: 'since',
          type: 'string',
          help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
        },
        {
          long: 'until',
          type: 'string',
          help: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
        },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const c = await inspectContainer(cli.client, f.positionals[0]);
  const res = await cli.client.open('GET', `/containers/${c.Id}/logs`, {
    query: {
      follow: f.bools.has('follow'),
      stderr: true,
      stdout: true,
      since: timeFlag('--since', f.strings.get('since')),
      until: timeFlag('--until', f.strings.get('until')),
      tail: f.strings.get('tail') ?? 'all',
      timestamps: f.bools.has('timestamps'),
    },
  });
  await pumpOutput(res, c.Config.Tty, cli.out, cli.err);
  return 0;
}
