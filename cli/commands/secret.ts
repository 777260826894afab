// `shoal secret create|ls|inspect|rm` and `shoal config create|ls|inspect|rm`, with the docker CLI's flags
// and output. One implementation for both kinds: they differ in the DRIVER column, in whether inspect shows
// the data (configs only: a secret's data never comes back from the daemon), and in their help texts.
import { readFileSync } from 'node:fs';
import { humanDuration } from '../../common/humanize.js';
import { type Cli, type CommandFn, UsageError } from '../context.js';
import { formatTable } from '../table.js';
import { renderTemplate } from '../template.js';
import {
  type CommandSpec,
  daemonError,
  filtersJson,
  keyValues,
  parseCommand,
  runSubcommand,
} from './common.js';
import { inspectEach } from './inspect.js';

type Kind = 'secret' | 'config';

interface ObjectJson {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: {
    Name: string;
    Labels?: Record<string, string> | null;
    Data?: string;
    Driver?: { Name: string } | null;
  };
}

async function readStdin(cli: Cli): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of cli.stdin) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** Go's time.Time String(), as docker's --pretty prints times. */
function goTime(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(rfc3339);
  return m ? `${m[1]} ${m[2]}${m[3] ?? ''} +0000 UTC` : rfc3339;
}

const ago = (iso: string, now: number) => `${humanDuration(now - Date.parse(iso))} ago`;

function pretty(kind: Kind, o: ObjectJson): string {
  const lines = [`ID:              ${o.ID}`, `Name:              ${o.Spec.Name}`];
  const l = Object.entries(o.Spec.Labels ?? {});
  if (l.length) lines.push('Labels:', ...l.map(([k, v]) => ` - ${k}${v ? `=${v}` : ''}`));
  if (kind === 'secret') lines.push(`Driver:            ${o.Spec.Driver?.Name ?? ''}`);
  lines.push(`Created at:        ${goTime(o.CreatedAt)}`, `Updated at:        ${goTime(o.UpdatedAt)}`);
  if (kind === 'config') lines.push('Data:', Buffer.from(o.Spec.Data ?? '', 'base64').toString());
  return `${lines.join('\n')}\n`;
}

/** The four subcommands of one kind. */
function commandsOf(kind: Kind): Record<string, CommandFn> {
  const noun = kind === 'secret' ? 'secret' : 'config';
  const CREATE: CommandSpec = {
    name: `${noun} create`,
    usage: `shoal ${noun} create [OPTIONS] ${noun.toUpperCase()} file|-`,
    description: `Create a ${noun} from a file or STDIN as content`,
    flags: [
      { long: 'label', short: 'l', type: 'list', help: `${noun[0]!.toUpperCase()}${noun.slice(1)} labels` },
      ...(kind === 'secret'
        ? [
            {
              long: 'driver',
              short: 'd',
              type: 'string' as const,
              help: 'Secret driver (not supported by shoal)',
            },
          ]
        : []),
      { long: 'template-driver', type: 'string', help: 'Template driver (not supported by shoal yet)' },
    ],
    minArgs: 2,
    maxArgs: 2,
  };
  const create: CommandFn = async (cli, args) => {
    const f = parseCommand(cli, CREATE, args);
    if (!f) return 0;
    const [name, file] = f.positionals as [string, string];
    let data: Buffer;
    try {
      data = file === '-' ? await readStdin(cli) : readFileSync(file);
    } catch (e) {
      cli.err.write(`error reading content from "${file}": ${(e as Error).message}\n`);
      return 1;
    }
    const driver = f.strings.get('driver');
    const template = f.strings.get('template-driver');
    try {
      const r = await cli.client.post<{ ID: string }>(`/${kind}s/create`, undefined, {
        Name: name,
        Labels: keyValues(f.lists.get('label') ?? [], '-l, --label', `${noun} create`),
        Data: data.toString('base64'),
        ...(driver ? { Driver: { Name: driver } } : {}),
        ...(template ? { Templating: { Name: template } } : {}),
      });
      cli.out.write(`${r.ID}\n`);
      return 0;
    } catch (e) {
      return daemonError(cli, e);
    }
  };

  const LS: CommandSpec = {
    name: `${noun} ls`,
    usage: `shoal ${noun} ls [OPTIONS]`,
    description: `List ${noun}s`,
    flags: [
      { long: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
      { long: 'filter', short: 'f', type: 'list', help: 'Filter output based on conditions provided' },
      { long: 'format', type: 'string', help: 'Format output using a custom template' },
    ],
    maxArgs: 0,
  };
  const ls: CommandFn = async (cli, args) => {
    const f = parseCommand(cli, LS, args);
    if (!f) return 0;
    let items: ObjectJson[];
    try {
      items = await cli.client.get<ObjectJson[]>(`/${kind}s`, {
        filters: filtersJson(f.lists.get('filter') ?? [], `${noun} ls`),
      });
    } catch (e) {
      return daemonError(cli, e);
    }
    items.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
    const now = Date.now();
    const rows = items.map((o) => ({
      ID: o.ID,
      Name: o.Spec.Name,
      Driver: o.Spec.Driver?.Name ?? '',
      CreatedAt: ago(o.CreatedAt, now),
      UpdatedAt: ago(o.UpdatedAt, now),
      Labels: Object.entries(o.Spec.Labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    }));
    const format = f.strings.get('format');
    if (f.bools.has('quiet')) cli.out.write(rows.map((r) => `${r.ID}\n`).join(''));
    else if (format) cli.out.write(rows.map((r) => `${renderTemplate(format, r)}\n`).join(''));
    else if (kind === 'secret')
      cli.out.write(
        formatTable([
          ['ID', 'NAME', 'DRIVER', 'CREATED', 'UPDATED'],
          ...rows.map((r) => [r.ID, r.Name, r.Driver, r.CreatedAt, r.UpdatedAt]),
        ]),
      );
    else
      cli.out.write(
        formatTable([
          ['ID', 'NAME', 'CREATED', 'UPDATED'],
          ...rows.map((r) => [r.ID, r.Name, r.CreatedAt, r.UpdatedAt]),
        ]),
      );
    return 0;
  };

  const INSPECT: CommandSpec = {
    name: `${noun} inspect`,
    usage: `shoal ${noun} inspect [OPTIONS] ${noun.toUpperCase()} [${noun.toUpperCase()}...]`,
    description: `Display detailed information on one or more ${noun}s`,
    flags: [
      { long: 'format', short: 'f', type: 'string', help: 'Format output using a custom template' },
      { long: 'pretty', type: 'bool', help: 'Print the information in a human friendly format' },
    ],
    minArgs: 1,
  };
  const inspect: CommandFn = async (cli, args) => {
    const f = parseCommand(cli, INSPECT, args);
    if (!f) return 0;
    if (f.bools.has('pretty') && f.strings.has('format'))
      throw new UsageError('--format is incompatible with human friendly format', `${noun} inspect`);
    return inspectEach<ObjectJson>(cli, f.positionals, {
      fetch: (ref) => cli.client.get(`/${kind}s/${encodeURIComponent(ref)}`),
      missing: (ref) => `No such ${noun}: ${ref}`,
      format: f.strings.get('format'),
      ...(f.bools.has('pretty') ? { pretty: (o: ObjectJson) => pretty(kind, o) } : {}),
    });
  };

  const RM: CommandSpec = {
    name: `${noun} rm`,
    usage: `shoal ${noun} rm ${noun.toUpperCase()} [${noun.toUpperCase()}...]`,
    description: `Remove one or more ${noun}s`,
    flags: [],
    minArgs: 1,
  };
  const rm: CommandFn = async (cli, args) => {
    const f = parseCommand(cli, RM, args);
    if (!f) return 0;
    let status = 0;
    for (const ref of f.positionals) {
      try {
        await cli.client.call('DELETE', `/${kind}s/${encodeURIComponent(ref)}`);
        cli.out.write(`${ref}\n`);
      } catch (e) {
        status = daemonError(cli, e);
      }
    }
    return status;
  };

  return { create, ls, list: ls, inspect, rm, remove: rm };
}

const usage = (kind: Kind) =>
  `\nUsage:  shoal ${kind} COMMAND\n\nManage Swarm ${kind}s\n\nCommands:\n  create      Create a ${kind} from a file or STDIN as content\n  inspect     Display detailed information on one or more ${kind}s\n  ls          List ${kind}s\n  rm          Remove one or more ${kind}s\n`;

export const secret: CommandFn = (cli, args) =>
  runSubcommand(cli, args, 'secret', usage('secret'), commandsOf('secret'));
export const config: CommandFn = (cli, args) =>
  runSubcommand(cli, args, 'config', usage('config'), commandsOf('config'));
