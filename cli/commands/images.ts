// Image commands: `shoal image ls|inspect|tag|rm|prune|pull|push|load|save|import` and the
// top-level spellings (`images`, `rmi`, `pull`, `push`, `load`, `save`, `import`).

import { humanDuration } from '../../common/humanize.js';
import { ApiError } from '../client.js';
import { type Cli, type CommandFn, UsageError } from '../context.js';
import { formatTable } from '../table.js';
import { humanSize } from '../units.js';
import { type CommandSpec, confirm, filtersJson, parseCommand } from './common.js';
import { filtersQuery } from './ps.js';

interface ImageEntry {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
}

const LS: CommandSpec = {
  name: 'images',
  usage: 'shoal images [OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  flags: [
    { long: 'all', short: 'a', type: 'bool', help: 'Show all images' },
    { long: 'quiet', short: 'q', type: 'bool', help: 'Only show image IDs' },
    { long: 'digests', type: 'bool', help: 'Show digests' },
    { long: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    {
      long: 'filter',
      short: 'f',
      type: 'list',
      help: 'Filter output based on conditions provided (dangling=, reference=, label=)',
    },
  ],
  maxArgs: 1,
};

export const ls: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, LS, args);
  if (!f) return 0;
  const filters = filtersJson(
    f.lists.get('filter') ?? [],
    'images',
    f.positionals[0] ? { reference: [f.positionals[0]] } : {},
  );
  const images = await cli.client.get<ImageEntry[]>('/images/json', { all: f.bools.has('all'), filters });
  const trunc = !f.bools.has('no-trunc');
  const id = (s: string) => (trunc ? s.replace(/^sha256:/, '').slice(0, 12) : s);
  if (f.bools.has('quiet')) {
    cli.out.write([...new Set(images.map((i) => id(i.Id)))].map((s) => `${s}\n`).join(''));
    return 0;
  }
  const digests = f.bools.has('digests');
  const rows: string[][] = [
    ['REPOSITORY', 'TAG', ...(digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'],
  ];
  const now = Date.now();
  for (const img of images) {
    const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    const digest =
      (img.RepoDigests ?? []).find((d) => d !== '<none>@<none>')?.replace(/^.*@/, '') ?? '<none>';
    const entries = tags.length ? tags : ['<none>:<none>'];
    for (const t of entries) {
      const colon = t.lastIndexOf(':');
      rows.push([
        t.slice(0, colon),
        t.slice(colon + 1),
        ...(digests ? [digest] : []),
        id(img.Id),
        `${humanDuration(now - img.Created * 1000)} ago`,
        humanSize(img.Size),
      ]);
    }
  }
  cli.out.write(formatTable(rows));
  return 0;
};

const INSPECT: CommandSpec = {
  name: 'image inspect',
  usage: 'shoal image inspect IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  flags: [
    { long: 'format', short: 'f', type: 'string', help: 'Only the value of a top-level field ({{.Field}})' },
  ],
  minArgs: 1,
};

export const inspect: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, INSPECT, args);
  if (!f) return 0;
  const out: unknown[] = [];
  let status = 0;
  for (const ref of f.positionals) {
    try {
      out.push(await cli.client.get(`/images/${ref}/json`));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      cli.err.write(`Error: ${e.status === 404 ? `No such image: ${ref}` : e.message}\n`);
      status = 1;
    }
  }
  const format = f.strings.get('format');
  if (format) {
    const m = /^\{\{\s*\.(\w+(?:\.\w+)*)\s*\}\}$/.exec(format.trim());
    if (!m)
      throw new UsageError(`unsupported format "${format}" (only {{.Field}} or {{.A.B}})`, 'image inspect');
    for (const o of out) {
      let v: unknown = o;
      for (const k of m[1].split('.')) v = (v as Record<string, unknown> | null)?.[k];
      cli.out.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
    }
  } else cli.out.write(`${JSON.stringify(out, null, 4)}\n`);
  return status;
};

const TAG: CommandSpec = {
  name: 'tag',
  usage: 'shoal image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
};

export const tag: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, TAG, args);
  if (!f) return 0;
  const [src, dst] = f.positionals;
  const at = dst.lastIndexOf(':');
  const slash = dst.lastIndexOf('/');
  const repo = at > slash ? dst.slice(0, at) : dst;
  const t = at > slash ? dst.slice(at + 1) : 'latest';
  await cli.client.post(`/images/${src}/tag`, { repo, tag: t });
  return 0;
};

const RM: CommandSpec = {
  name: 'rmi',
  usage: 'shoal image rm [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [
    { long: 'force', short: 'f', type: 'bool', help: 'Force removal of the image' },
    { long: 'no-prune', type: 'bool', help: 'Do not delete untagged parents' },
  ],
  minArgs: 1,
};

export const rm: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, RM, args);
  if (!f) return 0;
  let status = 0;
  for (const ref of f.positionals) {
    try {
      const r = await cli.client.call<{ Untagged?: string; Deleted?: string }[]>('DELETE', `/images/${ref}`, {
        query: { force: f.bools.has('force'), noprune: f.bools.has('no-prune') },
      });
      for (const e of r ?? [])
        cli.out.write(e.Untagged ? `Untagged: ${e.Untagged}\n` : `Deleted: ${e.Deleted}\n`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      cli.err.write(`Error response from daemon: ${e.message}\n`);
      status = 1;
    }
  }
  return status;
};

const PRUNE: CommandSpec = {
  name: 'image prune',
  usage: 'shoal image prune [OPTIONS]',
  description: 'Remove unused images',
  flags: [
    { long: 'all', short: 'a', type: 'bool', help: 'Remove all unused images, not just dangling ones' },
    { long: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
    { long: 'filter', type: 'list', help: 'Provide filter values (e.g. "until=<timestamp>")' },
  ],
  maxArgs: 0,
};

export const prune: CommandFn = async (cli, args) => {
  const f = parseCommand(cli, PRUNE, args);
  if (!f) return 0;
  if (
    !f.bools.has('force') &&
    !(await confirm(
      cli,
      `This will remove all ${f.bools.has('all') ? 'images without at least one container associated to them' : 'dangling images'}.`,
    ))
  )
    return 0;
  const r = await cli.client.post<{
    ImagesDeleted: { Untagged?: string; Deleted?: string }[];
    SpaceReclaimed: number;
  }>('/images/prune', {
    filters: filtersQuery([
      ...(f.bools.has('all') ? ['dangling=false'] : []),
      ...(f.lists.get('filter') ?? []),
    ]),
  });
  if (r.ImagesDeleted.length) {
    cli.out.write('Deleted Images:\n');
    for (const e of r.ImagesDeleted)
      cli.out.write(e.Untagged ? `untagged: ${e.Untagged}\n` : `deleted: ${e.Deleted}\n`);
    cli.out.write('\n');
  }
  cli.out.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  return 0;
};

const IMAGE_SUBCOMMANDS: Record<string, () => Promise<CommandFn>> = {
  ls: async () => ls,
  list: async () => ls,
  inspect: async () => inspect,
  tag: async () => tag,
  rm: async () => rm,
  remove: async () => rm,
  prune: async () => prune,
  pull: async () => (await import('./image-transfer.js')).pull,
  push: async () => (await import('./image-transfer.js')).push,
  load: async () => (await import('./image-transfer.js')).load,
  save: async () => (await import('./image-transfer.js')).save,
  import: async () => (await import('./image-transfer.js')).importImage,
  build: async () => (await import('./build.js')).build,
};

/** `shoal image SUBCOMMAND …` */
export const image: CommandFn = async (cli: Cli, args: string[]) => {
  const sub = args[0];
  const load = sub ? IMAGE_SUBCOMMANDS[sub] : undefined;
  if (sub && !load && sub !== '--help') {
    cli.err.write(`shoal image: '${sub}' is not a shoal image command.\nSee 'shoal image --help'.\n`);
    return 1;
  }
  if (!load) {
    cli.out.write(
      `\nUsage:  shoal image COMMAND\n\nManage images\n\nCommands:\n${Object.keys(IMAGE_SUBCOMMANDS)
        .filter((k) => !['list', 'remove'].includes(k))
        .map((k) => `  ${k}`)
        .join('\n')}\n`,
    );
    return 0;
  }
  return (await load())(cli, args.slice(1));
};
