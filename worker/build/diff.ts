// A build step's changes become a layer: the overlay upper directory (of a RUN's container or of a
// COPY's mount) is walked into a tar, overlayfs whiteouts (0/0 character devices) turned into OCI
// `.wh.name` entries and opaque directories (trusted.overlay.opaque=y) into `.wh..wh..opq`, and the tar
// is ingested into the image store like any pulled layer (blob + unpacked lower dir).
import { promises as fs, type Stats } from 'node:fs';
import type { Digest } from '../../common/digest.js';
import { lgetxattr } from '../engine/native.js';
import {
  directoryEntries,
  type ImageStore,
  ingestLayer,
  type LayerRef,
  MT,
  type TarSource,
  writeTar,
} from '../images/index.js';

async function isOpaque(dir: string): Promise<boolean> {
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    const v = await lgetxattr(dir, name).catch(() => null);
    if (v && v.toString() === 'y') return true;
  }
  return false;
}

/** Tar entries of an overlay upper dir, in OCI layer form. */
export function upperEntries(root: string, omit?: LayerOmit): AsyncGenerator<TarSource> {
  return directoryEntries(root, { isOpaque }, { omit });
}

/** Paths of an upper dir that are not the container's changes (the runtime's mount points). */
export type LayerOmit = (rel: string, st: Stats) => boolean;

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await fs.readdir(dir)).length === 0;
}

/** Commits an upper dir as a layer of the store; the caller leases the result until it is referenced. */
export async function commitLayer(
  store: ImageStore,
  upper: string,
  label: string,
  omit?: LayerOmit,
): Promise<LayerRef> {
  const layer = await ingestLayer(store.blobs, store.layers, writeTar(upperEntries(upper, omit)), { label });
  return { digest: layer.digest, size: layer.size, diffId: layer.diffId as Digest, mediaType: MT.ociLayer };
}
