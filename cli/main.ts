// shoal: the command line. Global flags, then one command from the table in commands/index.ts.
import { ApiError, Client, ConnectError } from './client.js';
import { commands, containerAliases, findCommand } from './commands/index.js';
import { UsageError } from './context.js';
import { FlagError } from './flags.js';

const DEFAULT_HOST = 'unix:///run/shoal/shoald.sock';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `
Usage:  shoal [OPTIONS] COMMAND

A swarm-style container orchestrator

Options:
  -H, --host string   Daemon socket to connect to (default ${DEFAULT_HOST}, or $SHOAL_HOST)
      --help          Print usage

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'shoal COMMAND --help' for more information on a command.
`;
}

function socketPath(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new FlagError(`unsupported host "${host}": use unix:///path/to/shoald.sock`);
}

async function main(argv: string[]): Promise<number> {
  let host = process.env.SHOAL_HOST || DEFAULT_HOST;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-H' || a === '--host') {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: ${a}`);
      host = argv[++i];
    } else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else if (a.startsWith('-H') && a.length > 2) host = a.slice(2);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(usage());
      return 0;
    } else if (a === '-v' || a === '--version') {
      argv = [...argv.slice(0, i), 'version'];
      break;
    } else if (a.startsWith('-')) throw new FlagError(`unknown flag: ${a}`);
    else break;
  }
  let name = argv[i];
  let rest = argv.slice(i + 1);
  if (name === 'container' && rest.length > 0) {
    name = containerAliases[rest[0]] ?? rest[0];
    rest = rest.slice(1);
  }
  if (!name) {
    process.stdout.write(usage());
    return 0;
  }
  const entry = findCommand(name);
  if (!entry) throw new UsageError(`'${name}' is not a shoal command.`, '');
  const fn = await entry.load();
  const client = new Client(socketPath(host));
  return fn(
    {
      client,
      out: process.stdout,
      err: process.stderr,
      // Opening stdin costs a short command a few ms (a stream over /dev/null or a pipe): only on use.
      get stdin() {
        return process.stdin;
      },
      env: process.env,
    },
    rest,
  );
}

// A reader that went away (`shoal images | head -1`): stop quietly, as the docker CLI dies of SIGPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });

main(process.argv.slice(2)).then(
  (code) => {
    // The command is done. stdout and stderr are written synchronously on Linux (files, pipes, terminals),
    // so exit now rather than wait for the daemon connection and Node's own handles to wind down.
    process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      const cmd = err.command ? `shoal ${err.command}` : 'shoal';
      process.stderr.write(`${cmd}: ${err.message}\nSee '${cmd} --help'.\n`);
      process.exitCode = err.status;
    } else if (err instanceof FlagError) {
      process.stderr.write(`shoal: ${err.message}\n`);
      process.exitCode = 125;
    } else if (err instanceof ApiError) {
      process.stderr.write(`Error response from daemon: ${err.message}\n`);
      process.exitCode = 1;
    } else if (err instanceof ConnectError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 1;
    } else {
      // Connection drops (the daemon stopped mid-request) and bugs: the message, the stack on request.
      const e = err as Error;
      process.stderr.write(`shoal: ${process.env.SHOAL_DEBUG ? (e?.stack ?? e) : (e?.message ?? e)}\n`);
      process.exitCode = 1;
    }
  },
);
