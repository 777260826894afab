// Tar writer: entries in, ustar/PAX blocks out, as an async stream of buffers.
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { BLOCK, encodeHeader, padding, type TarEntry } from './header.js';

export type TarSource = {
  entry: Partial<TarEntry> & Pick<TarEntry, 'name' | 'type'>;
  body?: Buffer | AsyncIterable<Buffer>;
};

export function fullEntry(e: TarSource['entry'], size: number): TarEntry {
  return {
    mode: e.type === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
    ...e,
    size,
  } as TarEntry;
}

/** Serializes entries into a tar stream ending with two zero blocks. */
export async function* writeTar(
  items: AsyncIterable<TarSource> | Iterable<TarSource>,
): AsyncGenerator<Buffer> {
  for await (const { entry, body } of items as AsyncIterable<TarSource>) {
    const size = entry.type === 'file' ? (Buffer.isBuffer(body) ? body.length : (entry.size ?? 0)) : 0;
    yield encodeHeader(fullEntry(entry, size));
    if (entry.type !== 'file') continue;
    let written = 0;
    if (Buffer.isBuffer(body)) {
      if (body.length) yield body;
      written = body.length;
    } else if (body) {
      for await (const c of body) {
        written += c.length;
        if (written > size)
          throw new Error(`tar writer: "${entry.name}" is longer than its declared size ${size}`);
        yield c;
      }
    }
    if (written !== size)
      throw new Error(
        `tar writer: "${entry.name}" has ${written} bytes, declared ${size} (file changed while read?)`,
      );
    const pad = padding(size);
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | ((rdev >>> 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

/**
 * An overlayfs upper directory read as a layer: its whiteouts (0/0 character devices) become OCI `.wh.NAME`
 * entries and its opaque directories (`isOpaque`, an xattr the caller reads) `.wh..wh..opq` markers.
 */
export interface UpperDir {
  isOpaque(dir: string): Promise<boolean>;
}

export interface DirectoryEntriesOptions {
  /** Put in front of every name ("etc/" for docker cp of /etc). */
  prefix?: string;
  /** Directories (relative names) listed but not walked: another filesystem mounted there (/proc). */
  prune?: (rel: string) => boolean;
  /** Paths (relative names) left out altogether, with what is below them. */
  omit?: (rel: string, st: Stats) => boolean;
}

/**
 * Walks a directory (not following symlinks) and yields tar entries for its contents, names relative
 * to the directory, parents before children, hard links recorded once then referenced; with `upper`,
 * overlay whiteouts and opaque directories in OCI form.
 */
export function directoryEntries(
  root: string,
  upper?: UpperDir,
  opts: DirectoryEntriesOptions = {},
): AsyncGenerator<TarSource> {
  return new Walker(root, upper, opts).children('');
}

/**
 * One path as tar entries under `name` (not followed if a symlink): a file alone, a directory with
 * everything below it (names `name/…`).
 */
export function pathEntries(
  abs: string,
  name: string,
  opts: Omit<DirectoryEntriesOptions, 'prefix'> = {},
): AsyncGenerator<TarSource> {
  return new Walker(abs, undefined, { ...opts, prefix: `${name}/` }).one('', name);
}

class Walker {
  private readonly seen = new Map<string, string>();
  private readonly prefix: string;
  constructor(
    private readonly root: string,
    private readonly upper: UpperDir | undefined,
    private readonly opts: DirectoryEntriesOptions,
  ) {
    this.prefix = opts.prefix ?? '';
  }

  async *children(rel: string): AsyncGenerator<TarSource> {
    const names = (await fs.readdir(path.join(this.root, rel))).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      yield* this.one(r, this.prefix + r);
    }
  }

  /** The entry at `rel` named `name`, and everything below it. */
  async *one(rel: string, name: string): AsyncGenerator<TarSource> {
    const abs = path.join(this.root, rel);
    const st = await fs.lstat(abs, { bigint: false });
    if (this.opts.omit?.(rel, st)) return;
    const base = {
      name,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (this.upper && st.isCharacterDevice() && st.rdev === 0) {
      const i = name.lastIndexOf('/');
      const wh = `${name.slice(0, i + 1)}.wh.${name.slice(i + 1)}`;
      yield { entry: { ...base, name: wh, type: 'file', mode: 0o644 }, body: Buffer.alloc(0) };
    } else if (st.isDirectory()) {
      yield { entry: { ...base, name: `${name}/`, type: 'dir' } };
      if (this.upper && (await this.upper.isOpaque(abs)))
        yield {
          entry: { ...base, name: `${name}/.wh..wh..opq`, type: 'file', mode: 0o644 },
          body: Buffer.alloc(0),
        };
      if (!this.opts.prune?.(rel)) yield* this.children(rel);
    } else if (st.isSymbolicLink()) {
      yield { entry: { ...base, type: 'symlink', linkname: await fs.readlink(abs) } };
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.seen.get(key) : undefined;
      if (first) {
        yield { entry: { ...base, type: 'hardlink', linkname: first } };
        return;
      }
      if (st.nlink > 1) this.seen.set(key, name);
      yield {
        entry: { ...base, type: 'file', size: st.size },
        body: createReadStream(abs) as AsyncIterable<Buffer>,
      };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      yield {
        entry: {
          ...base,
          type: st.isCharacterDevice() ? 'char' : 'block',
          devmajor: major(st.rdev),
          devminor: minor(st.rdev),
        },
      };
    } else if (st.isFIFO()) {
      yield { entry: { ...base, type: 'fifo' } };
    }
    // sockets are not archived (as tar does)
  }
}
