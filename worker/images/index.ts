// Public face of the image store and registry client (what shoald and the worker use).

export { type Digest, sha256Of, shortId } from '../../common/digest.js';
export {
  familiarString,
  formatReference,
  InvalidReferenceError,
  parseReference,
} from '../../common/reference.js';
export { type Credentials, decodeAuthHeader, encodeAuthHeader } from '../../common/registry-auth.js';
export { containerDefaults } from './defaults.js';
export { importRootfs } from './import.js';
export { type LoadResult, loadArchive } from './load.js';
export { type ContainerConfig, type ImageConfig, parseImageConfig, parseManifest } from './manifest.js';
export type { ProgressEvent, ProgressSink } from './progress.js';
export type { ImageRecord } from './records.js';
export { AuthError } from './registry/auth.js';
export { RegistryClient, RegistryError } from './registry/client.js';
export { type PullOptions, pullImage } from './registry/pull.js';
export { type PushOptions, pushImage } from './registry/push.js';
export { saveArchive } from './save.js';
export { ImageConflictError, ImageNotFoundError, ImageStore, type ImageSummary } from './store.js';
