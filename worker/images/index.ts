// Public face of the image store and registry client (what shoald and the worker use).

export { type Digest, sha256Of, shortId } from '../../common/digest.js';
export {
  familiarString,
  formatReference,
  InvalidReferenceError,
  parseReference,
} from '../../common/reference.js';
export { type Credentials, decodeAuthHeader, encodeAuthHeader } from '../../common/registry-auth.js';
export { releaseIdleChunks } from './chunk-pool.js';
export { decompressStream } from './decompress.js';
export { containerDefaults } from './defaults.js';
export { importRootfs } from './import.js';
export { ingestLayer } from './ingest.js';
export { type LoadResult, loadArchive } from './load.js';
export { type ContainerConfig, type ImageConfig, parseImageConfig, parseManifest } from './manifest.js';
export { layerCompression, MT } from './mediatypes.js';
export type { ProgressEvent, ProgressSink } from './progress.js';
export type { ImageRecord, LayerRef } from './records.js';
export { AuthError } from './registry/auth.js';
export { RegistryClient, RegistryError } from './registry/client.js';
export { type PullOptions, pullImage } from './registry/pull.js';
export { type PushOptions, pushImage } from './registry/push.js';
export { saveArchive } from './save.js';
// for the builder (worker/build): layers made from directories, and the helpers it shares
export {
  buildOciManifest,
  ImageConflictError,
  ImageNotFoundError,
  ImageStore,
  type ImageSummary,
} from './store.js';
export {
  type DirectoryEntriesOptions,
  directoryEntries,
  pathEntries,
  type TarSource,
  type UpperDir,
  writeTar,
} from './tar/writer.js';
export { type UnpackOptions, UnsafeLayerError, unpackLayer } from './unpack.js';
