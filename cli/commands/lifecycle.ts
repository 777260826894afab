// stop, kill, restart, rm, pause, unpause, wait: one request per container named, printing its name.
import { type Cli, UsageError } from '../context.js';
import { FlagError } from '../flags.js';
import { type CommandSpec, forEachContainer, intArg, parseCommand } from './common.js';
import { RESOURCE_FLAGS, resourceBody, restartPolicyFlag } from './run-options.js';

const one = (
  name: string,
  usage: string,
  description: string,
  flags: CommandSpec['flags'] = [],
): CommandSpec => ({
  name,
  usage,
  description,
  flags,
  minArgs: 1,
});

const enc = encodeURIComponent;

export async function stop(cli: Cli, args: string[]): Promise<number> {
  const spec = one(
    'stop',
    'shoal stop [OPTIONS] CONTAINER [CONTAINER...]',
    'Stop one or more running containers',
    [
      {
        long: 'time',
        short: 't',
        type: 'string',
        value: 'int',
        help: 'Seconds to wait before killing the container',
      },
      { long: 'signal', short: 's', type: 'string', help: 'Signal to send to the container' },
    ],
  );
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  const t = intArg(f.strings.get('time'), '-t, --time', 'stop');
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/stop`, { t, signal: f.strings.get('signal') });
    cli.out.write(`${ref}\n`);
  });
}

export async function kill(cli: Cli, args: string[]): Promise<number> {
  const spec = one(
    'kill',
    'shoal kill [OPTIONS] CONTAINER [CONTAINER...]',
    'Kill one or more running containers',
    [{ long: 'signal', short: 's', type: 'string', help: 'Signal to send to the container (default KILL)' }],
  );
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/kill`, { signal: f.strings.get('signal') });
    cli.out.write(`${ref}\n`);
  });
}

export async function restart(cli: Cli, args: string[]): Promise<number> {
  const spec = one(
    'restart',
    'shoal restart [OPTIONS] CONTAINER [CONTAINER...]',
    'Restart one or more containers',
    [
      {
        long: 'time',
        short: 't',
        type: 'string',
        value: 'int',
        help: 'Seconds to wait before killing the container',
      },
    ],
  );
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  const t = intArg(f.strings.get('time'), '-t, --time', 'restart');
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/restart`, { t });
    cli.out.write(`${ref}\n`);
  });
}

export async function update(cli: Cli, args: string[]): Promise<number> {
  const spec = one(
    'update',
    'shoal update [OPTIONS] CONTAINER [CONTAINER...]',
    'Update configuration of one or more containers',
    [
      { long: 'restart', type: 'string', help: 'Restart policy to apply when a container exits' },
      ...RESOURCE_FLAGS,
    ],
  );
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  const body: Record<string, unknown> = {};
  try {
    const restart = f.strings.get('restart');
    if (restart !== undefined) body.RestartPolicy = restartPolicyFlag(restart);
    Object.assign(body, resourceBody(f));
  } catch (err) {
    if (err instanceof FlagError) throw UsageError.flag(err.message, 'update');
    throw err;
  }
  if (Object.keys(body).length === 0)
    throw new UsageError('you must provide one or more flags when using this command', 'update');
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/update`, undefined, body);
    cli.out.write(`${ref}\n`);
  });
}

export async function rm(cli: Cli, args: string[]): Promise<number> {
  const spec = one('rm', 'shoal rm [OPTIONS] CONTAINER [CONTAINER...]', 'Remove one or more containers', [
    {
      long: 'force',
      short: 'f',
      type: 'bool',
      help: 'Force the removal of a running container (uses SIGKILL)',
    },
    {
      long: 'volumes',
      short: 'v',
      type: 'bool',
      help: 'Remove anonymous volumes associated with the container',
    },
  ]);
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.call('DELETE', `/containers/${enc(ref)}`, {
      query: { force: f.bools.has('force'), v: f.bools.has('volumes') },
    });
    cli.out.write(`${ref}\n`);
  });
}

export async function pause(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    one('pause', 'shoal pause CONTAINER [CONTAINER...]', 'Pause all processes within one or more containers'),
    args,
  );
  if (!f) return 0;
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/pause`);
    cli.out.write(`${ref}\n`);
  });
}

export async function unpause(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    one(
      'unpause',
      'shoal unpause CONTAINER [CONTAINER...]',
      'Unpause all processes within one or more containers',
    ),
    args,
  );
  if (!f) return 0;
  return forEachContainer(cli, f.positionals, async (ref) => {
    await cli.client.post(`/containers/${enc(ref)}/unpause`);
    cli.out.write(`${ref}\n`);
  });
}

export async function wait(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    one(
      'wait',
      'shoal wait CONTAINER [CONTAINER...]',
      'Block until one or more containers stop, then print their exit codes',
    ),
    args,
  );
  if (!f) return 0;
  return forEachContainer(cli, f.positionals, async (ref) => {
    const r = await cli.client.post<{ StatusCode: number; Error?: { Message?: string } | null }>(
      `/containers/${enc(ref)}/wait`,
    );
    if (r.Error?.Message) cli.err.write(`${r.Error.Message}\n`);
    cli.out.write(`${r.StatusCode}\n`);
  });
}

export async function rename(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(
    cli,
    {
      name: 'rename',
      usage: 'shoal rename CONTAINER NEW_NAME',
      description: 'Rename a container',
      flags: [],
      minArgs: 2,
      maxArgs: 2,
    },
    args,
  );
  if (!f) return 0;
  const [ref, name] = f.positionals;
  await cli.client.post(`/containers/${enc(ref)}/rename`, { name });
  return 0;
}
