// Image references as docker understands them: [domain[:port]/]path[:tag][@digest], with the implicit
// docker.io/library/ prefix for one-component names and :latest when neither tag nor digest is given.

import { type Digest, parseDigest } from './digest.js';
import { ShoalError } from './errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
export const DEFAULT_TAG = 'latest';

const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DOMAIN_RE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const IPV6_DOMAIN_RE = /^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;

export class InvalidReferenceError extends ShoalError {
  constructor(ref: string, why: string) {
    super('invalid_argument', `invalid reference format "${ref}": ${why}`);
    this.name = 'InvalidReferenceError';
  }
}

export interface Reference {
  /** Registry host with optional port, e.g. docker.io or 127.0.0.1:5000. */
  domain: string;
  /** Repository path within the registry, e.g. library/busybox. */
  path: string;
  tag?: string;
  digest?: Digest;
}

/** Parses and normalizes a reference. Adds :latest only when `defaultTag` and neither tag nor digest. */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): Reference {
  const defaultTag = opts.defaultTag ?? true;
  if (typeof input !== 'string' || input.length === 0)
    throw new InvalidReferenceError(String(input), 'empty');
  if (/\s/.test(input)) throw new InvalidReferenceError(input, 'contains whitespace');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1), 'digest');
    } catch (e) {
      throw new InvalidReferenceError(input, (e as Error).message);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new InvalidReferenceError(input, `invalid tag "${tag}"`);
  }
  if (rest.length === 0) throw new InvalidReferenceError(input, 'missing repository name');
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      if (!DOMAIN_RE.test(first) && !IPV6_DOMAIN_RE.test(first))
        throw new InvalidReferenceError(input, `invalid registry host "${first}"`);
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path !== path.toLowerCase())
    throw new InvalidReferenceError(input, 'repository name must be lowercase');
  for (const c of path.split('/')) {
    if (!COMPONENT_RE.test(c)) throw new InvalidReferenceError(input, `invalid path component "${c}"`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  const full = `${domain}/${path}`;
  if (full.length > 255) throw new InvalidReferenceError(input, 'repository name longer than 255 characters');
  if (!tag && !digest && defaultTag) tag = DEFAULT_TAG;
  return { domain, path, tag, digest };
}

/** Fully qualified repository name, e.g. docker.io/library/busybox. */
export function repoName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The name docker shows: docker.io/library/ and docker.io/ dropped. */
export function familiarName(r: Reference): string {
  if (r.domain === DEFAULT_DOMAIN) return r.path.startsWith('library/') ? r.path.slice(8) : r.path;
  return repoName(r);
}

/** Canonical string, e.g. docker.io/library/busybox:latest or …@sha256:… */
export function formatReference(r: Reference): string {
  return `${repoName(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

export function familiarString(r: Reference): string {
  return `${familiarName(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Registry API host for a domain (docker.io is served by registry-1.docker.io). */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}
