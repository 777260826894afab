// The layer cache: a step's key (the parent step's id, the instruction as evaluated, and the digest
// of the files it reads) → the step's result (its image config and layers). Kept in
// <data-root>/build/cache.json; the layers it names are pinned in the image store so gc keeps them
// while no image uses them. `builder prune` empties it.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ImageStore, LayerRef } from '../images/index.js';

export interface CachedStep {
  /** the step's image config, as bytes (its sha256 is the step id) */
  config: string;
  layers: LayerRef[];
  /** when it was made or last used (ms), for the newest-first prune order */
  used: number;
}

const PIN_OWNER = 'build-cache';

export function cacheKey(parentId: string, instruction: string, extra: unknown = null): string {
  return createHash('sha256')
    .update(JSON.stringify([parentId, instruction, extra]))
    .digest('hex');
}

export class BuildCache {
  private entries: Record<string, CachedStep> = {};
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly store: ImageStore,
  ) {}

  static async open(dir: string, store: ImageStore): Promise<BuildCache> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const c = new BuildCache(path.join(dir, 'cache.json'), store);
    try {
      c.entries = JSON.parse(await fs.readFile(c.file, 'utf8')) as Record<string, CachedStep>;
    } catch {
      c.entries = {};
    }
    return c;
  }

  /** A hit whose layers are all still present in the store. */
  async get(key: string): Promise<CachedStep | undefined> {
    const e = this.entries[key];
    if (!e) return undefined;
    for (const l of e.layers)
      if (!(await this.store.layers.has(l.diffId)) || !(await this.store.blobs.has(l.digest))) {
        delete this.entries[key];
        return undefined;
      }
    e.used = Date.now();
    return e;
  }

  /** Records a step; its layers are pinned before the entry is saved. */
  async put(key: string, step: Omit<CachedStep, 'used'>): Promise<void> {
    this.entries[key] = { ...step, used: Date.now() };
    await this.save();
  }

  size(): number {
    return Object.keys(this.entries).length;
  }

  /** Drops every entry `select` takes (all by default); returns how many and the bytes the store then freed. */
  async prune(
    select: (step: CachedStep) => boolean = () => true,
  ): Promise<{ entries: number; reclaimed: number }> {
    let n = 0;
    for (const [k, e] of Object.entries(this.entries))
      if (select(e)) {
        delete this.entries[k];
        n++;
      }
    await this.save();
    const reclaimed = await this.store.gc();
    return { entries: n, reclaimed };
  }

  private save(): Promise<void> {
    const run = async () => {
      const pins = new Set<string>();
      for (const e of Object.values(this.entries))
        for (const l of e.layers) {
          pins.add(l.digest);
          pins.add(l.diffId);
        }
      await this.store.setPins(PIN_OWNER, pins);
      const tmp = `${this.file}.tmp-${process.pid}`;
      await fs.writeFile(tmp, JSON.stringify(this.entries), { mode: 0o600 });
      await fs.rename(tmp, this.file);
    };
    this.writing = this.writing.then(run, run);
    return this.writing;
  }
}
