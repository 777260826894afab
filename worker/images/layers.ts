// Unpacked layers: layers/<diff-id hex>/diff is an overlayfs lower dir, layers/<hex>/layer.json its
// metadata. A layer is unpacked into a temp dir and renamed into place when complete, so a present
// layer dir is always whole. Unpacking the same diff-id twice at once is coalesced.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type Digest, hexOf } from '../../common/digest.js';
import { spreadSubdirs } from '../engine/spread-dirs.js';
import { writeFileAtomic } from './atomic.js';
import { removeTree } from './remove-tree.js';

export interface LayerMeta {
  diffId: Digest;
  /** size of the uncompressed tar (docker save needs it before streaming) */
  tarSize: number;
  /** bytes of file content written */
  contentSize: number;
  /** blob digests verified to unpack to this layer (compressed forms; the diff-id itself needs none) */
  blobs?: Digest[];
}

let tmpN = 0;

export class LayerStore {
  readonly dir: string;
  private inflight = new Map<string, Promise<LayerMeta>>();

  constructor(root: string) {
    this.dir = path.join(root, 'layers');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await spreadSubdirs(this.dir);
    for (const n of await fs.readdir(this.dir))
      if (n.startsWith('.tmp-')) await this.removeDir(path.join(this.dir, n));
  }

  diffDir(diffId: Digest): string {
    return path.join(this.dir, hexOf(diffId), 'diff');
  }

  async meta(diffId: Digest): Promise<LayerMeta | undefined> {
    try {
      return JSON.parse(
        await fs.readFile(path.join(this.dir, hexOf(diffId), 'layer.json'), 'utf8'),
      ) as LayerMeta;
    } catch {
      return undefined;
    }
  }

  async has(diffId: Digest): Promise<boolean> {
    return (await this.meta(diffId)) !== undefined;
  }

  /** Whether the blob `digest` is known (verified) to unpack to this layer. */
  async paired(diffId: Digest, digest: Digest): Promise<boolean> {
    const m = await this.meta(diffId);
    return m !== undefined && (digest === diffId || (m.blobs ?? []).includes(digest));
  }

  /** Records a verified blob → layer pairing (a lost race only means verifying once more later). */
  async addPair(diffId: Digest, digest: Digest): Promise<void> {
    const m = await this.meta(diffId);
    if (!m || digest === diffId || (m.blobs ?? []).includes(digest)) return;
    m.blobs = [...(m.blobs ?? []), digest];
    await writeFileAtomic(path.join(this.dir, hexOf(diffId), 'layer.json'), JSON.stringify(m), 0o600);
  }

  /**
   * Ensures the layer exists. `produce(tmpDiffDir)` unpacks into a fresh directory and returns the
   * verified metadata; on any error the temp dir is removed.
   */
  async ensure(
    diffId: Digest | undefined,
    produce: (diffDir: string) => Promise<LayerMeta>,
  ): Promise<LayerMeta> {
    if (diffId) {
      const existing = await this.meta(diffId);
      if (existing) return existing;
      const running = this.inflight.get(diffId);
      if (running) return running;
    }
    const p = this.unpackNew(produce);
    if (diffId) {
      this.inflight.set(diffId, p);
      p.finally(() => this.inflight.delete(diffId)).catch(() => {});
    }
    return p;
  }

  private async unpackNew(produce: (diffDir: string) => Promise<LayerMeta>): Promise<LayerMeta> {
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${Date.now()}-${++tmpN}`);
    await fs.mkdir(path.join(tmp, 'diff'), { recursive: true });
    try {
      const meta = await produce(path.join(tmp, 'diff'));
      await fs.writeFile(path.join(tmp, 'layer.json'), JSON.stringify(meta));
      const final = path.join(this.dir, hexOf(meta.diffId));
      try {
        await fs.rename(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await this.removeDir(tmp); // someone else completed the same layer first
      }
      return meta;
    } catch (e) {
      await this.removeDir(tmp);
      throw e;
    }
  }

  async list(): Promise<Digest[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  async remove(diffId: Digest): Promise<void> {
    const d = path.join(this.dir, hexOf(diffId));
    // rename first so a half-removed layer never looks present
    const doomed = path.join(this.dir, `.tmp-rm-${process.pid}-${++tmpN}`);
    try {
      await fs.rename(d, doomed);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      // a rename can need a new directory block on a full disk: then layer.json goes first, which
      // makes the layer absent (has() reads it), and the rest is removed in place
      await fs.rm(path.join(d, 'layer.json'), { force: true });
      await this.removeDir(d);
      return;
    }
    await this.removeDir(doomed);
  }

  private async removeDir(d: string): Promise<void> {
    await removeTree(d); // fs.rm took a minute for a 1M-file layer
  }
}
