// Pure: `.dockerignore` rules (docker's own syntax and matching, by @balena/dockerignore, a port of
// moby's implementation). Both sides use it: the CLI to leave ignored files out of the context it
// sends, shoald to drop them from a context it receives (the docker CLI sends Dockerfile and
// .dockerignore even when they are ignored).
import dockerignoreModule from '@balena/dockerignore';

// a CommonJS module whose typings say `export default`: its default is the module itself
const dockerignore = dockerignoreModule.default;

export interface IgnoreRules {
  /** whether a path (relative to the context, "/"-separated) is left out */
  ignores(rel: string): boolean;
  /** `!` exceptions exist: an ignored directory may still hold kept files, so it must be walked */
  hasExceptions: boolean;
}

export function ignoreRules(text: string | undefined): IgnoreRules {
  const patterns = (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const ig = dockerignore({ ignorecase: false }).add(patterns);
  return {
    ignores: (rel) => rel !== '' && rel !== '.' && ig.ignores(rel),
    hasExceptions: patterns.some((p) => p.startsWith('!')),
  };
}
