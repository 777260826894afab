// sha256 digests as used by OCI: "sha256:" + 64 lowercase hex characters.
import { createHash } from 'node:crypto';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Validates a digest string; `field` names where it came from so the error points at it. */
export function parseDigest(s: unknown, field = 'digest'): Digest {
  if (typeof s !== 'string') throw new Error(`${field}: expected a sha256 digest string, got ${typeof s}`);
  if (!DIGEST_RE.test(s)) {
    if (/^[a-z0-9]+:/.test(s) && !s.startsWith('sha256:'))
      throw new Error(`${field}: unsupported digest algorithm in "${s}" (only sha256)`);
    throw new Error(`${field}: invalid digest "${s}" (expected sha256:<64 hex>)`);
  }
  return s as Digest;
}

export function sha256Of(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(d: Digest): string {
  return d.slice('sha256:'.length);
}

/** 12-character short id, as docker prints. */
export function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

/** OCI chain id: chain(L0) = diff(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)). */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Of(`${out[out.length - 1]} ${d}`));
  return out;
}
