// `image import ROOTFS.tar REF`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image.
import type { Digest } from '../../common/digest.js';
import { formatReference, parseReference } from '../../common/reference.js';
import { ingestLayer } from './ingest.js';
import { ociLayerMediaType } from './layerblob.js';
import type { ContainerConfig } from './manifest.js';
import { MT } from './mediatypes.js';
import type { ImageRecord } from './records.js';
import { buildOciManifest, type ImageStore } from './store.js';

export interface ImportOptions {
  /** a name for the image; untagged when absent */
  ref?: string;
  /** container defaults, as `docker import --change` would set them */
  config?: ContainerConfig;
  message?: string;
  now?: () => Date;
}

export async function importRootfs(
  store: ImageStore,
  src: AsyncIterable<Buffer>,
  opts: ImportOptions = {},
): Promise<ImageRecord> {
  const tag = opts.ref ? parseReference(opts.ref) : undefined;
  if (tag?.digest) throw new Error(`import: reference "${opts.ref}" must not contain a digest`);
  const anonymous = store.leaseAnonymous();
  let release = () => {};
  try {
    const layer = await ingestLayer(store.blobs, store.layers, src, { label: 'rootfs tarball' });
    release = store.lease([layer.digest, layer.diffId]);
    anonymous();
    const created = (opts.now ?? (() => new Date()))().toISOString();
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created,
        config: opts.config ?? {},
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{ created, created_by: 'shoal import', comment: opts.message ?? 'Imported from tarball' }],
      }),
    );
    const layers = [
      {
        digest: layer.digest,
        size: layer.size,
        diffId: layer.diffId as Digest,
        mediaType: await ociLayerMediaType(store.blobs, layer.digest),
      },
    ];
    const configDigest = await store.blobs.put(config);
    return await store.register({
      manifest: buildOciManifest(configDigest, config.length, layers),
      manifestMediaType: MT.ociManifest,
      config,
      configMediaType: MT.ociConfig,
      layers,
      tags: tag ? [formatReference(tag)] : [],
    });
  } finally {
    anonymous();
    release();
  }
}
