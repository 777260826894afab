// `shoal exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD...`, in the docker CLI's
// order: create the exec, start it hijacked (or detached), resize for -t, then read its exit code.

import { ApiError } from '../client.js';
import type { Cli } from '../context.js';
import { refuseTtyWithoutTerminal, sendSize, startSession } from './attach-session.js';
import { inspectContainer, parseCommand } from './common.js';
import { startFailureStatus } from './run.js';

export async function exec(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'exec',
      usage: 'shoal exec [OPTIONS] CONTAINER COMMAND [ARG...]',
      description: 'Execute a command in a running container',
      flags: [
        { long: 'detach', short: 'd', type: 'bool', help: 'Detached mode: run command in the background' },
        { long: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
        { long: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
        { long: 'env', short: 'e', type: 'list', help: 'Set environment variables' },
        {
          long: 'user',
          short: 'u',
          type: 'string',
          help: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
        },
        { long: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
        { long: 'privileged', type: 'bool', help: 'Give extended privileges to the command' },
      ],
      interspersed: false,
      minArgs: 2,
    },
    args,
  );
  if (!f) return 0;
  const [ref, ...cmd] = f.positionals;
  const detach = f.bools.has('detach');
  const tty = f.bools.has('tty');
  const interactive = f.bools.has('interactive');
  const refused = detach ? undefined : refuseTtyWithoutTerminal(cli, tty, interactive);
  if (refused !== undefined) return refused;
  const c = await inspectContainer(cli.client, ref);
  const env = (f.lists.get('env') ?? []).flatMap((e) =>
    e.includes('=') ? [e] : cli.env[e] !== undefined ? [`${e}=${cli.env[e]}`] : [],
  );
  const { Id: execId } = await cli.client.post<{ Id: string }>(`/containers/${c.Id}/exec`, undefined, {
    User: f.strings.get('user') ?? '',
    Privileged: f.bools.has('privileged'),
    Tty: tty,
    AttachStdin: interactive && !detach,
    AttachStderr: !detach,
    AttachStdout: !detach,
    Detach: detach,
    DetachKeys: '',
    Env: env.length ? env : null,
    WorkingDir: f.strings.get('workdir') ?? '',
    Cmd: cmd,
  });
  if (detach) {
    await cli.client.post(`/exec/${execId}/start`, undefined, { Detach: true, Tty: tty });
    return 0;
  }
  let socket: Awaited<ReturnType<typeof cli.client.hijack>>;
  try {
    socket = await cli.client.hijack(`/exec/${execId}/start`, undefined, { Detach: false, Tty: tty });
  } catch (err) {
    if (err instanceof ApiError) {
      cli.err.write(`Error response from daemon: ${err.message}\n`);
      return err.status === 404 || err.status === 409 ? 1 : startFailureStatus(err.message);
    }
    throw err;
  }
  const session = startSession(cli, socket, {
    tty,
    stdin: interactive,
    client: cli.client,
    resizePath: `/exec/${execId}/resize`,
  });
  try {
    if (tty) void sendSize(cli, cli.client, `/exec/${execId}/resize`);
    await session.output;
  } finally {
    session.restore();
  }
  const info = await cli.client.get<{ ExitCode: number | null; Running: boolean }>(`/exec/${execId}/json`);
  return info.ExitCode ?? 126;
}
