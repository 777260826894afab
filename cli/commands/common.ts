// Helpers shared by command modules: argument parsing with --help, per-container loops, errors.
import { ApiError, type Client } from '../client.js';
import { type Cli, type CommandFn, UsageError } from '../context.js';
import { FlagError, type FlagSpec, type ParsedFlags, parseFlags, usageText } from '../flags.js';

export interface CommandSpec {
  name: string;
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** false: flags end at the first positional (the command line of run/exec). */
  interspersed?: boolean;
  minArgs?: number;
  maxArgs?: number;
}

const HELP: FlagSpec = { long: 'help', type: 'bool', help: 'Print usage' };

/** Parses a command's arguments; undefined when --help was printed. */
export function parseCommand(cli: Cli, spec: CommandSpec, args: string[]): ParsedFlags | undefined {
  let f: ParsedFlags;
  try {
    f = parseFlags(args, [...spec.flags, HELP], spec.interspersed ?? true);
  } catch (err) {
    if (err instanceof FlagError) throw UsageError.flag(err.message, spec.name);
    throw err;
  }
  if (f.bools.has('help')) {
    cli.out.write(usageText(spec.usage, spec.description, spec.flags));
    return undefined;
  }
  const n = f.positionals.length;
  if (spec.minArgs !== undefined && n < spec.minArgs) {
    throw new UsageError(
      `"shoal ${spec.name}" requires ${spec.maxArgs === spec.minArgs ? 'exactly' : 'at least'} ${spec.minArgs} argument${spec.minArgs === 1 ? '' : 's'}.\nUsage:  ${spec.usage}`,
      spec.name,
    );
  }
  if (spec.maxArgs !== undefined && n > spec.maxArgs) {
    throw new UsageError(
      `"shoal ${spec.name}" accepts at most ${spec.maxArgs} argument(s).\nUsage:  ${spec.usage}`,
      spec.name,
    );
  }
  return f;
}

/** `shoal GROUP SUBCOMMAND …` (swarm, node, service): the group's usage without one, a usage error for an unknown one. */
export function runSubcommand(
  cli: Cli,
  args: string[],
  group: string,
  usage: string,
  subcommands: Readonly<Record<string, CommandFn>>,
): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help') {
    cli.out.write(usage);
    return Promise.resolve(0);
  }
  const fn = subcommands[sub];
  if (!fn) throw new UsageError(`unknown command "${sub}" for "shoal ${group}"`, group);
  return fn(cli, rest);
}

/** Runs `fn` for each container named; errors are printed per container and make the status 1 (as docker). */
export async function forEachContainer(
  cli: Cli,
  refs: string[],
  fn: (ref: string) => Promise<void>,
): Promise<number> {
  let status = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (err instanceof ApiError) cli.err.write(`Error response from daemon: ${err.message}\n`);
      else throw err;
      status = 1;
    }
  }
  return status;
}

export interface ContainerJson {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number };
  Config: { Tty: boolean; OpenStdin: boolean };
}

export function inspectContainer(client: Client, ref: string): Promise<ContainerJson> {
  return client.get<ContainerJson>(`/containers/${encodeURIComponent(ref)}/json`);
}

export function intArg(value: string | undefined, flag: string, command: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value))
    throw UsageError.flag(`invalid argument "${value}" for "${flag}" flag: not an integer`, command);
  return Number(value);
}

export interface WaitResult {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

/**
 * Reads the body of a POST /containers/{id}/wait reply. A daemon that goes away while we wait is
 * reported as docker does ("error waiting for container: …"), with the exit status 125.
 */
export async function readWaitResult(cli: Cli, res: AsyncIterable<unknown>): Promise<number> {
  let r: WaitResult;
  try {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WaitResult;
  } catch (err) {
    cli.err.write(`shoal: error waiting for container: ${(err as Error).message}\n`);
    return 125;
  }
  if (r.Error?.Message) cli.err.write(`shoal: ${r.Error.Message}\n`);
  return r.StatusCode;
}

/** `--label k=v` / `--opt k=v` lists as an object; a bare `k` is an empty value, an empty key a flag error. */
export function keyValues(items: string[], flag: string, command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === 0) throw UsageError.flag(`invalid argument "${item}" for "${flag}" flag: empty key`, command);
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/**
 * `-f k=v` lists as the API's `filters` value (`{"k":{"v":true}}`), with `extra` values added; undefined
 * when there is none. A filter without `=` is a flag error, in docker's words.
 */
export function filtersJson(
  items: string[],
  command: string,
  extra: Record<string, string[]> = {},
): string | undefined {
  const f: Record<string, Record<string, boolean>> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw UsageError.flag(
        `invalid argument "${item}" for "-f, --filter" flag: bad format of filter (expected name=value)`,
        command,
      );
    const k = item.slice(0, eq);
    f[k] = { ...(f[k] ?? {}), [item.slice(eq + 1)]: true };
  }
  for (const [k, vs] of Object.entries(extra)) for (const v of vs) f[k] = { ...(f[k] ?? {}), [v]: true };
  return Object.keys(f).length ? JSON.stringify(f) : undefined;
}

/** A daemon's refusal printed as the docker CLI prints it (exit status 1); anything else goes on up. */
export function daemonError(cli: Cli, e: unknown): number {
  if (!(e instanceof ApiError)) throw e;
  cli.err.write(`Error response from daemon: ${e.message}\n`);
  return 1;
}

/** Docker's confirmation prompt; without a terminal there is nobody to ask and the answer is yes. */
export async function confirm(cli: Cli, warning: string): Promise<boolean> {
  if (!cli.stdin.isTTY) return true;
  cli.out.write(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await new Promise<string>((res) => cli.stdin.once('data', (d) => res(String(d))));
  cli.stdin.pause();
  return /^y(es)?$/i.test(answer.trim());
}
