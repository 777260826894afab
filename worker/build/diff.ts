// A build step's changes become a layer: the overlay upper directory (of a RUN's container or of a
// COPY's mount) is walked into a tar, overlayfs whiteouts (0/0 character devices) turned into OCI
// `.wh.name` entries and opaque directories (trusted.overlay.opaque=y) into `.wh..wh..opq`, and the tar
// is ingested into the image store like any pulled layer (blob + unpacked lower dir).
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../../common/digest.js';
import { lgetxattr } from '../engine/native.js';
import {
  type ImageStore,
  ingestLayer,
  type LayerRef,
  MT,
  type TarSource,
  writeTar,
} from '../images/index.js';

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | ((rdev >>> 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

async function isOpaque(dir: string): Promise<boolean> {
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    const v = await lgetxattr(dir, name).catch(() => null);
    if (v && v.toString() === 'y') return true;
  }
  return false;
}

/** Tar entries of an overlay upper dir, in OCI layer form. */
export async function* upperEntries(root: string): AsyncGenerator<TarSource> {
  const seen = new Map<string, string>();
  async function* walk(rel: string): AsyncGenerator<TarSource> {
    const names = (await fs.readdir(path.join(root, rel))).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = path.join(root, r);
      const st = await fs.lstat(abs);
      const base = {
        name: r,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
      };
      if (st.isCharacterDevice() && st.rdev === 0) {
        yield {
          entry: { ...base, name: rel ? `${rel}/.wh.${n}` : `.wh.${n}`, type: 'file', mode: 0o644 },
          body: Buffer.alloc(0),
        };
      } else if (st.isDirectory()) {
        yield { entry: { ...base, name: `${r}/`, type: 'dir' } };
        if (await isOpaque(abs))
          yield {
            entry: { ...base, name: `${r}/.wh..wh..opq`, type: 'file', mode: 0o644 },
            body: Buffer.alloc(0),
          };
        yield* walk(r);
      } else if (st.isSymbolicLink()) {
        yield { entry: { ...base, type: 'symlink', linkname: await fs.readlink(abs) } };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first) {
          yield { entry: { ...base, type: 'hardlink', linkname: first } };
          continue;
        }
        if (st.nlink > 1) seen.set(key, r);
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
      } else if (st.isFIFO()) yield { entry: { ...base, type: 'fifo' } };
    }
  }
  yield* walk('');
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await fs.readdir(dir)).length === 0;
}

/** Commits an upper dir as a layer of the store; the caller leases the result until it is referenced. */
export async function commitLayer(store: ImageStore, upper: string, label: string): Promise<LayerRef> {
  const layer = await ingestLayer(store.blobs, store.layers, writeTar(upperEntries(upper)), { label });
  return { digest: layer.digest, size: layer.size, diffId: layer.diffId as Digest, mediaType: MT.ociLayer };
}
