// stop, kill, restart, rm, pause, unpause, wait: one request per container named, printing its name.
import { type Cli, UsageError } from '../context.js';
import { FlagError } from '../flags.js';
import { parseNanoCpus } from '../units.js';
import { type CommandSpec, forEachContainer, intArg, parseCommand } from './common.js';
import { bytesFlag, intFlag, restartPolicyFlag } from './run-options.js';

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
      { long: 'memory', short: 'm', type: 'string', value: 'bytes', help: 'Memory limit' },
      {
        long: 'memory-swap',
        type: 'string',
        value: 'bytes',
        help: 'Swap limit equal to memory plus swap: -1 to enable unlimited swap',
      },
      { long: 'memory-reservation', type: 'string', value: 'bytes', help: 'Memory soft limit' },
      { long: 'cpus', type: 'string', value: 'decimal', help: 'Number of CPUs' },
      { long: 'cpu-shares', short: 'c', type: 'string', value: 'int', help: 'CPU shares (relative weight)' },
      {
        long: 'cpu-period',
        type: 'string',
        value: 'int',
        help: 'Limit CPU CFS (Completely Fair Scheduler) period',
      },
      {
        long: 'cpu-quota',
        type: 'string',
        value: 'int',
        help: 'Limit CPU CFS (Completely Fair Scheduler) quota',
      },
      { long: 'cpuset-cpus', type: 'string', help: 'CPUs in which to allow execution (0-3, 0,1)' },
      { long: 'cpuset-mems', type: 'string', help: 'MEMs in which to allow execution (0-3, 0,1)' },
      {
        long: 'pids-limit',
        type: 'string',
        value: 'int',
        help: 'Tune container pids limit (set -1 for unlimited)',
      },
    ],
  );
  const f = parseCommand(cli, spec, args);
  if (!f) return 0;
  const body: Record<string, unknown> = {};
  try {
    const restart = f.strings.get('restart');
    if (restart !== undefined) body.RestartPolicy = restartPolicyFlag(restart);
    const cpus = f.strings.get('cpus');
    if (cpus !== undefined) {
      const nano = parseNanoCpus(cpus);
      if (nano === undefined)
        throw new FlagError(`invalid argument "${cpus}" for "--cpus" flag: not a number`);
      body.NanoCpus = nano;
    }
    const fields: [string, number | undefined][] = [
      ['Memory', bytesFlag(f, 'memory')],
      ['MemorySwap', bytesFlag(f, 'memory-swap', true)],
      ['MemoryReservation', bytesFlag(f, 'memory-reservation')],
      ['CpuShares', intFlag(f, 'cpu-shares')],
      ['CpuPeriod', intFlag(f, 'cpu-period')],
      ['CpuQuota', intFlag(f, 'cpu-quota')],
      ['PidsLimit', intFlag(f, 'pids-limit')],
    ];
    for (const [k, v] of fields) if (v !== undefined) body[k] = v;
  } catch (err) {
    if (err instanceof FlagError) throw UsageError.flag(err.message, 'update');
    throw err;
  }
  for (const [flag, field] of [
    ['cpuset-cpus', 'CpusetCpus'],
    ['cpuset-mems', 'CpusetMems'],
  ] as const) {
    const v = f.strings.get(flag);
    if (v !== undefined) body[field] = v;
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
