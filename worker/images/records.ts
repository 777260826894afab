// The image index: which references name which image, and what each image is made of.
// One JSON file, replaced atomically on every change, so readers never see half an update.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../../common/digest.js';
import { writeFileAtomic } from './atomic.js';

export interface LayerRef {
  /** blob digest as stored (compressed or not) */
  digest: Digest;
  mediaType: string;
  size: number;
  diffId: Digest;
}

export interface ImageRecord {
  /** image id = config digest, as docker */
  id: Digest;
  manifestDigest: Digest;
  manifestMediaType: string;
  configDigest: Digest;
  configMediaType: string;
  layers: LayerRef[];
  /** sum of the unpacked layers' content */
  size: number;
  created: string;
  /** repositories (registry/path) the blobs are known to exist in: cross-repo mount sources */
  sources: string[];
  lastTagTime?: string;
}

export interface IndexState {
  version: 1;
  images: Record<string, ImageRecord>;
  /** canonical tag reference (docker.io/library/busybox:latest) → image id */
  tags: Record<string, Digest>;
  /** canonical digest reference (repo@sha256:…) → image id */
  digests: Record<string, Digest>;
}

export function emptyIndex(): IndexState {
  return { version: 1, images: {}, tags: {}, digests: {} };
}

export class IndexFile {
  readonly file: string;
  constructor(root: string) {
    this.file = path.join(root, 'images.json');
  }

  async read(): Promise<IndexState> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex();
      throw e;
    }
    const s = JSON.parse(text) as IndexState;
    if (s.version !== 1) throw new Error(`${this.file}: unknown index version ${s.version}`);
    return s;
  }

  write(s: IndexState): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify(s, null, 1), 0o600);
  }

  /** Removes temp files of index writes a crash interrupted. */
  async removeTemps(): Promise<void> {
    const dir = path.dirname(this.file);
    const prefix = `.${path.basename(this.file)}.tmp-`;
    for (const n of await fs.readdir(dir))
      if (n.startsWith(prefix)) await fs.rm(path.join(dir, n), { force: true });
  }
}
