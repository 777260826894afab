// `shoal cp [-a] [-L] SRC DEST`: files between a container and the local filesystem, as docker cp.
// The daemon speaks tar (GET/PUT /containers/{id}/archive); the client makes and unpacks the tars with
// node-tar and renames the top entry the way docker's client does, so `cp c:/d x` makes x, not x/d.
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { ApiError } from '../client.js';
import { type Cli, UsageError } from '../context.js';
import { type CommandSpec, inspectContainer, parseCommand } from './common.js';
import { rawRequest } from './image-transfer.js';

const SPEC: CommandSpec = {
  name: 'cp',
  usage: `shoal cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
        shoal cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
  description: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
  flags: [
    { long: 'archive', short: 'a', type: 'bool', help: 'Archive mode (copy all uid/gid information)' },
    { long: 'follow-link', short: 'L', type: 'bool', help: 'Always follow symbol link in SRC_PATH' },
  ],
  minArgs: 2,
  maxArgs: 2,
};

const STAT_HEADER = 'x-docker-container-path-stat';
/** Go's os.FileMode type bits, as the daemon's stat header carries them. */
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;

interface PathStat {
  name: string;
  mode: number;
  linkTarget: string;
}

/** A failure of the copy itself, worded as docker's client words it (printed bare, status 1). */
class CopyError extends Error {}

interface Endpoint {
  container?: string;
  path: string;
}

/** docker's split: `name:path` is in a container unless the part before ':' looks like a local path. */
function endpoint(arg: string): Endpoint {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

const isDir = (s: PathStat) => Math.floor(s.mode / MODE_DIR) % 2 === 1;
const isLink = (s: PathStat) => Math.floor(s.mode / MODE_SYMLINK) % 2 === 1;

function statOf(header: string | string[] | undefined): PathStat | undefined {
  if (typeof header !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
  } catch {
    return undefined;
  }
}

/** The path in a container as the daemon stats it (HEAD archive); undefined when it does not exist. */
async function statInContainer(cli: Cli, container: string, p: string): Promise<PathStat | undefined> {
  try {
    const res = await rawRequest(cli, 'HEAD', archivePath(container, p));
    res.resume();
    return statOf(res.headers[STAT_HEADER]);
  } catch (e) {
    // a HEAD reply has no body: a 404 is a missing path or a missing container, which inspect tells apart
    if (e instanceof ApiError && e.status === 404) {
      await inspectContainer(cli.client, container);
      return undefined;
    }
    throw e;
  }
}

const archivePath = (container: string, p: string, query: Record<string, string> = {}) =>
  `/containers/${encodeURIComponent(container)}/archive?${new URLSearchParams({ path: p, ...query })}`;

/** Renames the top-level component `from` of an entry path to `to` (docker's RebaseArchiveEntries). */
export function rebase(entry: string, from: string, to: string): string {
  const rel = entry.replace(/^(\.\/)+/, '');
  if (from === '.') {
    // a directory's content ("/."): the daemon's entries are "." and "./…"
    const inner = rel === '.' || rel === '' ? '' : rel;
    return inner ? `${to}/${inner}` : to;
  }
  if (from === to) return entry;
  // the root ("/"): the daemon's entries are "/" and "/…", and the new name goes in front
  if (from === '/') return `${to}/${entry.replace(/^\/+/, '')}`;
  if (rel === from || rel.startsWith(`${from}/`)) return to + rel.slice(from.length);
  return entry;
}

const endsWithDot = (p: string) => p === '.' || p.endsWith('/.');
const endsWithSep = (p: string) => p.endsWith('/');

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function copyFromContainer(
  cli: Cli,
  src: Endpoint & { container: string },
  dest: string,
  follow: boolean,
  archive: boolean,
) {
  let srcPath = src.path;
  let rebaseName: string | undefined;
  if (follow) {
    const st = await statInContainer(cli, src.container, srcPath);
    if (st && isLink(st)) {
      // the link's target travels under the link's own name
      rebaseName = path.posix.basename(srcPath);
      srcPath = path.posix.isAbsolute(st.linkTarget)
        ? st.linkTarget
        : path.posix.join(path.posix.dirname(srcPath), st.linkTarget);
    }
  }
  const res = await rawRequest(cli, 'GET', archivePath(src.container, srcPath));
  if (dest === '-') {
    await pipeline(res, cli.out);
    return;
  }
  const st = statOf(res.headers[STAT_HEADER]);
  if (!st) throw new CopyError('the daemon sent no stat of the copied path');
  const srcIsDir = isDir(st);
  const srcBase = st.name;
  const local = await lstatOrUndefined(dest).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOTDIR') throw new CopyError(`stat ${dest}: not a directory`);
    throw e;
  });
  let target: string;
  let to: string;
  if (local?.isDirectory() && (!srcIsDir || !endsWithDot(src.path))) {
    target = dest; // into the directory, under the source's (or the followed link's) name
    to = rebaseName ?? srcBase;
  } else {
    if (local && !local.isDirectory() && srcIsDir) throw new CopyError('cannot copy directory');
    if (!local && !srcIsDir && endsWithSep(dest)) throw new CopyError('no such directory');
    target = path.dirname(path.resolve(dest));
    to = path.basename(path.resolve(dest));
    const parent = await lstatOrUndefined(target);
    if (!parent?.isDirectory()) throw new CopyError(`lstat ${target}: no such file or directory`);
  }
  await pipeline(
    res,
    tar.x({
      cwd: target,
      preserveOwner: archive, // -a: the container's uid/gid on the local files too
      onReadEntry: (e) => {
        e.path = rebase(e.path, srcBase, to);
      },
    }),
  );
}

async function copyToContainer(
  cli: Cli,
  src: string,
  dest: Endpoint & { container: string },
  archive: boolean,
  follow: boolean,
) {
  const query = { noOverwriteDirNonDir: 'true', ...(archive ? { copyUIDGID: 'true' } : {}) };
  const headers = { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' };
  const destStat = await statInContainer(cli, dest.container, dest.path);
  if (src === '-') {
    // a tar on stdin goes as it is into an existing directory
    if (destStat && !isDir(destStat))
      throw new CopyError(`destination "${dest.container}:${dest.path}" must be a directory`);
    const r = await rawRequest(cli, 'PUT', archivePath(dest.container, dest.path, query), {
      headers,
      body: cli.stdin,
    });
    r.resume();
    return;
  }
  let srcPath = path.resolve(src);
  const srcName = path.basename(srcPath);
  let local = await lstatOrUndefined(srcPath);
  if (!local) throw new CopyError(`lstat ${src}: no such file or directory`);
  if (follow && local.isSymbolicLink()) {
    srcPath = await fs.realpath(srcPath);
    local = await fs.lstat(srcPath);
  }
  if (endsWithSep(src) && !local.isDirectory()) throw new CopyError(`lstat ${src}: not a directory`);
  let putDir: string;
  let to: string;
  if (destStat && isDir(destStat) && (!local.isDirectory() || !endsWithDot(src))) {
    putDir = dest.path;
    to = srcName;
  } else {
    if (destStat && !isDir(destStat) && local.isDirectory()) throw new CopyError(`cannot copy directory`);
    if (!destStat && endsWithSep(dest.path) && !local.isDirectory()) throw new CopyError(`no such directory`);
    putDir = path.posix.dirname(dest.path.replace(/\/+$/, '') || '/');
    to = path.posix.basename(dest.path.replace(/\/+$/, '')) || srcName;
  }
  const from = path.basename(srcPath);
  const body = tar.c(
    {
      cwd: path.dirname(srcPath),
      portable: false,
      onWriteEntry: (e) => {
        e.path = rebase(e.path, from, to);
      },
    },
    [from],
  ) as unknown as Readable;
  try {
    const r = await rawRequest(cli, 'PUT', archivePath(dest.container, putDir, query), { headers, body });
    r.resume();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPIPE' && code !== 'ECONNRESET') throw e;
    // the daemon refused (a missing directory) and hung up while the tar was still going: ask again
    // with an empty body for its words; it refuses before reading a byte, so this writes nothing
    const r = await rawRequest(cli, 'PUT', archivePath(dest.container, putDir, query), {
      headers: { 'Content-Type': 'application/x-tar', 'Content-Length': '0' },
    }).catch((again: unknown) => {
      throw again instanceof ApiError ? again : e;
    });
    r.resume();
    throw e;
  }
}

export async function cp(cli: Cli, args: string[]): Promise<number> {
  const f = parseCommand(cli, SPEC, args);
  if (!f) return 0;
  const [srcArg, destArg] = f.positionals;
  const src = endpoint(srcArg);
  const dest = endpoint(destArg);
  if (src.container && dest.container)
    return copyError(cli, new CopyError('copying between containers is not supported'));
  if (!src.container && !dest.container)
    return copyError(cli, new CopyError('must specify at least one container source'));
  for (const e of [src, dest])
    if (e.container && e.path === '') throw new UsageError('empty path in the container', 'cp');
  try {
    if (src.container) {
      await copyFromContainer(
        cli,
        { container: src.container, path: src.path },
        dest.path,
        f.bools.has('follow-link'),
        f.bools.has('archive'),
      );
    } else
      await copyToContainer(
        cli,
        src.path,
        { container: dest.container as string, path: dest.path },
        f.bools.has('archive'),
        f.bools.has('follow-link'),
      );
  } catch (e) {
    return copyError(cli, e);
  }
  return 0;
}

/** docker's wording: its own refusals bare, the daemon's prefixed, a local I/O failure as "Error: …". */
function copyError(cli: Cli, e: unknown): number {
  if (e instanceof CopyError) cli.err.write(`${e.message}\n`);
  else if (e instanceof ApiError) cli.err.write(`Error response from daemon: ${e.message}\n`);
  else if ((e as NodeJS.ErrnoException).syscall) cli.err.write(`Error: ${(e as Error).message}\n`);
  else throw e;
  return 1;
}
