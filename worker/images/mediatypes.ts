// Media types of the OCI image spec and Docker's schema 2.
export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<string, Compression> = {
  [MT.ociLayer]: 'none',
  [MT.ociLayerNondist]: 'none',
  [MT.ociLayerGzip]: 'gzip',
  [MT.ociLayerNondistGzip]: 'gzip',
  [MT.ociLayerZstd]: 'zstd',
  [MT.dockerLayerGzip]: 'gzip',
  [MT.dockerLayerForeign]: 'gzip',
  // docker save/load's own uncompressed layers
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
};

export function layerCompression(mediaType: string, field = 'layer mediaType'): Compression {
  const c = LAYER_TYPES[mediaType];
  if (!c) throw new Error(`${field}: unsupported layer media type "${mediaType}"`);
  return c;
}

/** The Accept header a puller sends: everything we can parse. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');
