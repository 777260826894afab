// `shoal start [-a] [-i]`: starts containers; with -a attaches first (docker's order: attach, wait
// is not used, start) and exits with the container's status.
import type { Cli } from '../context.js';
import { sendSize, startSession } from './attach-session.js';
import { forEachContainer, inspectContainer, parseCommand, readWaitResult } from './common.js';

export async function start(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'start',
      usage: 'shoal start [OPTIONS] CONTAINER [CONTAINER...]',
      description: 'Start one or more stopped containers',
      flags: [
        { long: 'attach', short: 'a', type: 'bool', help: 'Attach STDOUT/STDERR and forward signals' },
        { long: 'interactive', short: 'i', type: 'bool', help: "Attach container's STDIN" },
      ],
      minArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const attach = f.bools.has('attach') || f.bools.has('interactive');
  if (!attach) {
    return forEachContainer(cli, f.positionals, async (ref) => {
      await cli.client.post(`/containers/${encodeURIComponent(ref)}/start`);
      cli.out.write(`${ref}\n`);
    });
  }
  if (f.positionals.length > 1) {
    cli.err.write('shoal start: you cannot start and attach multiple containers at once\n');
    return 1;
  }
  const c = await inspectContainer(cli.client, f.positionals[0]);
  const stdin = f.bools.has('interactive') && c.Config.OpenStdin;
  const socket = await cli.client.hijack(`/containers/${c.Id}/attach`, {
    stream: true,
    stdin,
    stdout: true,
    stderr: true,
  });
  const waitRes = await cli.client.open('POST', `/containers/${c.Id}/wait`, {
    query: { condition: 'next-exit' },
  });
  const session = startSession(cli, socket, {
    tty: c.Config.Tty,
    stdin,
    client: cli.client,
    resizePath: `/containers/${c.Id}/resize`,
  });
  try {
    await cli.client.post(`/containers/${c.Id}/start`);
    if (c.Config.Tty) void sendSize(cli, cli.client, `/containers/${c.Id}/resize`);
    const status = await readWaitResult(cli, waitRes);
    await session.output;
    return status;
  } finally {
    session.restore();
  }
}
