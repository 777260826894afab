// `shoal attach [--no-stdin] [--detach-keys K] CONTAINER`: the terminal joined to a running container's
// stdio; the detach keys (a TTY's ctrl-p,ctrl-q by default) leave it running; otherwise the container's
// exit status once its output ends, as docker attach.
import { parseDetachKeys } from '../../common/detach-keys.js';
import type { Cli } from '../context.js';
import { refuseTtyWithoutTerminal, sendSize, startSession } from './attach-session.js';
import { inspectContainer, parseCommand, readWaitResult } from './common.js';

export async function attach(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'attach',
      usage: 'shoal attach [OPTIONS] CONTAINER',
      description: 'Attach local standard input, output, and error streams to a running container',
      flags: [
        { long: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
        { long: 'no-stdin', type: 'bool', help: 'Do not attach STDIN' },
      ],
      minArgs: 1,
      maxArgs: 1,
    },
    args,
  );
  if (!f) return 0;
  const keysSpec = f.strings.get('detach-keys');
  let detachKeys: Buffer | undefined;
  try {
    detachKeys = keysSpec === undefined ? undefined : parseDetachKeys(keysSpec);
  } catch (e) {
    cli.err.write(`shoal: ${(e as Error).message}.\nSee 'shoal attach --help'.\n`);
    return 125;
  }
  const c = await inspectContainer(cli.client, f.positionals[0]);
  if (c.State.Status !== 'running') {
    cli.err.write('You cannot attach to a stopped container, start it first\n');
    return 1;
  }
  const stdin = c.Config.OpenStdin && !f.bools.has('no-stdin');
  const refused = refuseTtyWithoutTerminal(cli, c.Config.Tty, stdin);
  if (refused !== undefined) return refused;
  const socket = await cli.client.hijack(`/containers/${c.Id}/attach`, {
    stream: true,
    stdin,
    stdout: true,
    stderr: true,
    ...(keysSpec ? { detachKeys: keysSpec } : {}),
  });
  const waitRes = await cli.client.open('POST', `/containers/${c.Id}/wait`, {
    query: { condition: 'next-exit' },
  });
  const session = startSession(cli, socket, {
    tty: c.Config.Tty,
    stdin,
    client: cli.client,
    resizePath: `/containers/${c.Id}/resize`,
    detachKeys,
  });
  try {
    if (c.Config.Tty) void sendSize(cli, cli.client, `/containers/${c.Id}/resize`);
    const status = await Promise.race([readWaitResult(cli, waitRes), session.detached.then(() => null)]);
    if (status === null) {
      waitRes.destroy();
      return 0;
    }
    await session.output;
    return status;
  } finally {
    session.restore();
  }
}
