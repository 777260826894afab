// Public face of the builder (what shoald uses): contexts, the build itself, the layer cache.
export {
  type BuildDeps,
  type BuildMessage,
  type BuildRequest,
  type BuildResult,
  BuildStepError,
  runBuild,
} from './builder.js';
export { BuildCache } from './cache.js';
export { applyChanges, type CommitRequest, commitContainer } from './commit.js';
export { type BuildContext, ContextError, openContext } from './context.js';
export { DockerfileError, parseDockerfile } from './dockerfile.js';
