// A container's filesystem as a whole: `shoal export` (a tar of it), `shoal diff` (what changed against
// its image) and `shoal commit` (its changes as a new image), over /containers/{id}/export, /changes
// and POST /commit.
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseReference } from '../../common/reference.js';
import { type Cli, UsageError } from '../context.js';
import { type CommandSpec, daemonError, parseCommand } from './common.js';
import { rawRequest } from './image-transfer.js';

const enc = encodeURIComponent;

const EXPORT: CommandSpec = {
  name: 'export',
  usage: 'shoal export [OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  flags: [{ long: 'output', short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' }],
  minArgs: 1,
  maxArgs: 1,
};

export async function exportContainer(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(cli, EXPORT, args);
  if (!f) return 0;
  const output = f.strings.get('output');
  if (!output && (cli.out as NodeJS.WriteStream).isTTY)
    throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 'export');
  let res: Awaited<ReturnType<typeof rawRequest>>;
  try {
    res = await rawRequest(cli, 'GET', `/containers/${enc(f.positionals[0])}/export`);
  } catch (e) {
    return daemonError(cli, e);
  }
  if (!output) {
    await pipeline(res, cli.out);
    return 0;
  }
  // written beside the target and renamed, so a failed export never leaves a partial archive
  const tmp = path.join(path.dirname(output), `.${path.basename(output)}.tmp-${process.pid}`);
  try {
    await pipeline(res, createWriteStream(tmp));
    if (!res.complete) throw new Error('the daemon ended the archive early');
    await fs.rename(tmp, output);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    cli.err.write(`Error: failed to export container: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

const DIFF: CommandSpec = {
  name: 'diff',
  usage: 'shoal diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  minArgs: 1,
  maxArgs: 1,
};

/** The API's change kinds (0 modified, 1 added, 2 deleted) as docker diff's letters. */
const KIND = ['C', 'A', 'D'];

export async function diff(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(cli, DIFF, args);
  if (!f) return 0;
  let changes: { Path: string; Kind: number }[] | null;
  try {
    changes = await cli.client.get(`/containers/${enc(f.positionals[0])}/changes`);
  } catch (e) {
    return daemonError(cli, e);
  }
  for (const c of changes ?? []) cli.out.write(`${KIND[c.Kind] ?? '?'} ${c.Path}\n`);
  return 0;
}

const COMMIT: CommandSpec = {
  name: 'commit',
  usage: 'shoal commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    {
      long: 'author',
      short: 'a',
      type: 'string',
      help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    },
    { long: 'change', short: 'c', type: 'list', help: 'Apply Dockerfile instruction to the created image' },
    { long: 'message', short: 'm', type: 'string', help: 'Commit message' },
    { long: 'pause', short: 'p', type: 'bool', help: 'Pause container during commit (default true)' },
  ],
  minArgs: 1,
  maxArgs: 2,
};

/** REPOSITORY[:TAG]: the tag is after the last ':' that follows the last '/' (a registry port is not a tag). */
export function splitRepoTag(ref: string): { repo: string; tag?: string } {
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref };
}

export async function commit(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(cli, COMMIT, args);
  if (!f) return 0;
  const [container, ref] = f.positionals;
  if (ref !== undefined) {
    // checked here, as docker's client does, so a bad name sends nothing
    try {
      if (parseReference(ref).digest) throw new Error('refusing to create a tag with a digest reference');
    } catch (e) {
      cli.err.write(`${(e as Error).message}\n`);
      return 1;
    }
  }
  const { repo, tag } = ref ? splitRepoTag(ref) : { repo: undefined, tag: undefined };
  const q = new URLSearchParams({ container });
  if (repo !== undefined) q.set('repo', repo);
  if (tag !== undefined) q.set('tag', tag);
  const author = f.strings.get('author');
  if (author !== undefined) q.set('author', author);
  const message = f.strings.get('message');
  if (message !== undefined) q.set('comment', message);
  q.set('pause', f.falses.has('pause') ? 'false' : 'true');
  for (const c of f.lists.get('change') ?? []) q.append('changes', c);
  try {
    const res = await rawRequest(cli, 'POST', `/commit?${q}`, {
      headers: { 'Content-Type': 'application/json' },
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Id: string };
    cli.out.write(`${r.Id}\n`);
  } catch (e) {
    return daemonError(cli, e);
  }
  return 0;
}
