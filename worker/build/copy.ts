// COPY and ADD: sources found in the context (or another stage's files) with docker's rules — globs,
// a directory's contents copied rather than the directory, a destination ending in "/" or already a
// directory receiving files by name — written into the step's overlay mount, owned 0:0 unless --chown,
// modes kept unless --chmod. Every path resolves inside its root: nothing outside is read or written.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { ShoalError } from '../../common/errors.js';
import { decompressStream, unpackLayer } from '../images/index.js';
import { componentRegExp, hasGlob } from './glob.js';
import { components, resolveInRoot } from './inroot.js';

export class CopyError extends ShoalError {
  constructor(message: string) {
    super('invalid_argument', message);
    this.name = 'CopyError';
  }
}

export interface Source {
  /** as written, for messages */
  pattern: string;
  /** path inside the root ("" = the root itself) */
  rel: string;
  host: string;
  st: Stats;
}

/** Finds the sources a pattern names; `what` words errors ("build context", "stage build"). */
export async function findSources(root: string, pattern: string, what: string): Promise<Source[]> {
  const parts = components(pattern);
  if (!hasGlob(pattern)) {
    const host = await resolveInRoot(root, parts.join('/'));
    const st = await fs.lstat(host).catch(() => undefined);
    if (!st)
      throw new CopyError(
        `file not found in ${what}${what === 'build context' ? ' or excluded by .dockerignore' : ''}: stat ${pattern}: file does not exist`,
      );
    return [{ pattern, rel: parts.join('/'), host, st }];
  }
  let found: string[][] = [[]];
  for (const part of parts) {
    const next: string[][] = [];
    for (const prefix of found) {
      if (!hasGlob(part)) {
        next.push([...prefix, part]);
        continue;
      }
      let re: RegExp;
      try {
        re = componentRegExp(part);
      } catch (e) {
        throw new CopyError(`COPY source "${pattern}": ${(e as Error).message}`);
      }
      const dir = await resolveInRoot(root, prefix.join('/'));
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      for (const n of names.sort()) if (re.test(n)) next.push([...prefix, n]);
    }
    found = next;
  }
  const out: Source[] = [];
  for (const f of found) {
    const host = await resolveInRoot(root, f.join('/'));
    const st = await fs.lstat(host).catch(() => undefined);
    if (st) out.push({ pattern, rel: f.join('/'), host, st });
  }
  return out;
}

/** Content digest of the sources (names, types, modes, link targets, bytes — never times or owners). */
export async function hashSources(sources: Source[]): Promise<string> {
  // the walk lists every entry in order; file contents are hashed in parallel, then combined in order
  const entries: { name: string; st: Stats; host: string; link?: string }[] = [];
  const walk = async (host: string, name: string, st: Stats): Promise<void> => {
    entries.push({ name, st, host, link: st.isSymbolicLink() ? await fs.readlink(host) : undefined });
    if (st.isDirectory())
      for (const n of (await fs.readdir(host)).sort()) {
        const p = path.join(host, n);
        await walk(p, `${name}/${n}`, await fs.lstat(p));
      }
  };
  for (const s of sources) await walk(s.host, s.rel, s.st);
  const digests: string[] = new Array(entries.length).fill('');
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < entries.length; i = next++) {
      if (!entries[i].st.isFile()) continue;
      const fh = createHash('sha256');
      if (entries[i].st.size < 1 << 20) fh.update(await fs.readFile(entries[i].host));
      else for await (const c of createReadStream(entries[i].host)) fh.update(c as Buffer);
      digests[i] = fh.digest('hex');
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const h = createHash('sha256');
  entries.forEach((e, i) => {
    h.update(`${e.name}\0${e.st.mode.toString(8)}\0`);
    if (e.link !== undefined) h.update(`l:${e.link}\0`);
    else if (e.st.isFile()) h.update(`f:${e.st.size}:${digests[i]}\0`);
  });
  return `sha256:${h.digest('hex')}`;
}

export interface CopyOptions {
  uid: number;
  gid: number;
  /** --chmod: applied to every file and directory copied */
  chmod?: number;
  /** ADD: local archives are unpacked */
  unpackArchives?: boolean;
  keyword: 'COPY' | 'ADD';
}

async function archiveKind(host: string): Promise<boolean> {
  const fh = await fs.open(host, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true; // gzip
    if (bytesRead >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
    return bytesRead >= 262 && b.subarray(257, 262).toString() === 'ustar';
  } finally {
    await fh.close();
  }
}

/**
 * Copies the sources to `dest` (absolute in the image) inside `root` (the step's merged mount).
 * Destination rules as docker's: several sources need a destination ending in "/".
 */
export async function copySources(
  root: string,
  sources: Source[],
  dest: string,
  opts: CopyOptions,
): Promise<void> {
  const destIsDirSyntax = dest.endsWith('/') || dest.endsWith('/.') || dest === '.';
  if (sources.length > 1 && !destIsDirSyntax)
    throw new CopyError(
      `When using ${opts.keyword} with more than one source file, the destination must be a directory and end with a /`,
    );
  const destRel = components(dest).join('/');
  const destHost = await resolveInRoot(root, destRel);
  const existing = await fs.stat(destHost).catch(() => undefined);
  const intoDir = destIsDirSyntax || existing?.isDirectory() === true;
  for (const s of sources) {
    if (s.st.isDirectory()) {
      await mkdirs(root, destRel, opts);
      await copyTree(root, s.host, destRel, opts, true);
    } else if (opts.unpackArchives && s.st.isFile() && (await archiveKind(s.host))) {
      await mkdirs(root, destRel, opts);
      await unpackLayer(
        decompressStream(createReadStream(s.host) as AsyncIterable<Buffer>),
        await resolveInRoot(root, destRel),
      );
    } else {
      const target = intoDir ? `${destRel}/${path.posix.basename(s.rel) || path.basename(s.host)}` : destRel;
      await mkdirs(root, path.posix.dirname(target), opts);
      await copyTree(root, s.host, target, opts, false);
    }
  }
}

/** mkdir -p inside the root; new directories get the copy's owner, mode 0755. */
async function mkdirs(root: string, rel: string, opts: CopyOptions): Promise<void> {
  const parts = components(rel);
  for (let i = 1; i <= parts.length; i++) {
    const host = await resolveInRoot(root, parts.slice(0, i).join('/'));
    const st = await fs.stat(host).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) throw new CopyError(`cannot copy to /${parts.slice(0, i).join('/')}: not a directory`);
    await fs.mkdir(host, { mode: 0o755 });
    await fs.chown(host, opts.uid, opts.gid);
  }
}

async function copyTree(
  root: string,
  src: string,
  destRel: string,
  opts: CopyOptions,
  top: boolean,
): Promise<void> {
  const st = await fs.lstat(src);
  if (st.isDirectory()) {
    const host = await resolveInRoot(root, destRel, true);
    const have = await fs.lstat(host).catch(() => undefined);
    if (have && !have.isDirectory()) await fs.rm(host, { force: true });
    if (!have?.isDirectory()) await fs.mkdir(host, { mode: 0o755 });
    for (const n of (await fs.readdir(src)).sort())
      await copyTree(root, path.join(src, n), `${destRel}/${n}`, opts, false);
    if (!top || !have) {
      await fs.chown(host, opts.uid, opts.gid);
      await fs.chmod(host, opts.chmod ?? st.mode & 0o7777);
      await fs.utimes(host, st.atime, st.mtime);
    }
    return;
  }
  const host = await resolveInRoot(root, destRel, false);
  const have = await fs.lstat(host).catch(() => undefined);
  if (have?.isDirectory())
    throw new CopyError(`cannot overwrite directory /${components(destRel).join('/')} with a file`);
  if (have) await fs.rm(host, { force: true });
  if (st.isSymbolicLink()) {
    await fs.symlink(await fs.readlink(src), host);
    await fs.lchown(host, opts.uid, opts.gid);
    await fs.lutimes(host, st.atime, st.mtime);
  } else if (st.isFile()) {
    await fs.copyFile(src, host);
    await fs.chown(host, opts.uid, opts.gid);
    await fs.chmod(host, opts.chmod ?? st.mode & 0o7777);
    await fs.utimes(host, st.atime, st.mtime);
  } else
    throw new CopyError(`${opts.keyword}: ${path.basename(src)} is a device, FIFO or socket: not copied`);
}
