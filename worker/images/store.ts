// The image store: blobs, unpacked layers and the image index under one root (<data-root>/images).
// Layers and blobs are shared between images; what no image references any more is removed by gc,
// which runs after rm/prune. Operations that add content hold a lease so gc never takes their blobs.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { compareText } from '../../common/compare.js';
import { type Digest, isDigest, shortId } from '../../common/digest.js';
import { ShoalError } from '../../common/errors.js';
import { familiarString, formatReference, parseReference, repoName } from '../../common/reference.js';
import { Mutex, writeFileAtomic } from './atomic.js';
import { BlobStore } from './blobstore.js';
import { LayerStore } from './layers.js';
import { type ImageConfig, parseImageConfig } from './manifest.js';
import { MT } from './mediatypes.js';
import { emptyIndex, type ImageRecord, IndexFile, type IndexState, type LayerRef } from './records.js';

export class ImageNotFoundError extends ShoalError {
  constructor(readonly ref: string) {
    super('not_found', `No such image: ${ref}`);
    this.name = 'ImageNotFoundError';
  }
}

/** An ambiguous short id, or a removal an image's tags or containers forbid without force. */
export class ImageConflictError extends ShoalError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ImageConflictError';
  }
}

export interface ImageSummary {
  id: Digest;
  repoTags: string[];
  repoDigests: string[];
  created: number;
  size: number;
  labels: Record<string, string> | null;
}

export interface RemoveResult {
  untagged: string[];
  deleted: Digest[];
}

export interface NewImage {
  manifest: Buffer;
  manifestMediaType: string;
  config: Buffer;
  configMediaType: string;
  layers: LayerRef[];
  /** canonical tag references to point at the image */
  tags: string[];
  /** repository (registry/path) the image came from, for a digest reference and mount sources */
  repository?: string;
}

export class ImageStore {
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  private readonly index: IndexFile;
  private state: IndexState = emptyIndex();
  private readonly mu = new Mutex();
  private readonly leases = new Map<string, number>();
  /** Content other parts keep without an image (the build cache), by owner; persisted in pins.json. */
  private pins: Record<string, string[]> = {};

  private constructor(readonly root: string) {
    this.blobs = new BlobStore(root);
    this.layers = new LayerStore(root);
    this.index = new IndexFile(root);
  }

  /**
   * Opens the store and cleans up after a crash: temp files, partial ingests, content of loads and
   * pulls that were killed before registering (anything the index does not reference), and images
   * whose content a removal interrupted half-way had already deleted.
   *
   * The store holds setuid binaries, file capabilities and device nodes of images, and private
   * images' blobs: only root may reach it (0700, fixed on an existing root too). Overlay mounts need
   * no path walk by a container's user, so containers running as any user are unaffected.
   */
  static async open(root: string): Promise<ImageStore> {
    const s = new ImageStore(root);
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    await fs.chmod(root, 0o700);
    await s.blobs.init();
    await s.layers.init();
    await s.index.removeTemps();
    s.state = await s.index.read();
    s.pins = await s.readPins();
    await s.mu.run(async () => {
      await s.dropIncomplete();
      await s.gcLocked();
    });
    return s;
  }

  /** Drops images whose blobs or layers are missing: a removal that deletes data first was interrupted. */
  private async dropIncomplete(): Promise<void> {
    const next = structuredClone(this.state);
    let dropped = false;
    for (const rec of Object.values(next.images)) {
      const blobs = [rec.configDigest, rec.manifestDigest, ...rec.layers.map((l) => l.digest)];
      let whole = true;
      for (const d of blobs) if (!(await this.blobs.has(d))) whole = false;
      for (const l of rec.layers) if (!(await this.layers.has(l.diffId))) whole = false;
      if (whole) continue;
      console.error(`images: dropping image ${rec.id}: its content is incomplete (an interrupted removal)`);
      delete next.images[rec.id];
      for (const map of [next.tags, next.digests])
        for (const k of Object.keys(map)) if (map[k] === rec.id) delete map[k];
      dropped = true;
    }
    if (!dropped) return;
    // if the index cannot be written now (full disk), the next open drops them again
    await this.commit(next).catch(() => {
      this.state = next;
    });
  }

  // ---- pins: blobs and layers (digests, diff-ids) another part keeps, e.g. the build cache's layers

  private get pinsFile(): string {
    return path.join(this.root, 'pins.json');
  }

  private async readPins(): Promise<Record<string, string[]>> {
    try {
      return JSON.parse(await fs.readFile(this.pinsFile, 'utf8')) as Record<string, string[]>;
    } catch {
      return {};
    }
  }

  /** Replaces what `owner` pins (persisted first, so an open-time gc keeps it too). */
  setPins(owner: string, digests: Iterable<string>): Promise<void> {
    return this.mu.run(async () => {
      const next = { ...this.pins, [owner]: [...new Set(digests)].sort() };
      if (next[owner].length === 0) delete next[owner];
      await writeFileAtomic(this.pinsFile, JSON.stringify(next), 0o600);
      this.pins = next;
    });
  }

  // ---- leases: content being added is protected from gc until registered

  private anonymous = 0;

  /**
   * For content whose digests are not known until it has been read (import): while any such
   * ingest runs, gc removes nothing.
   */
  leaseAnonymous(): () => void {
    this.anonymous++;
    let released = false;
    return () => {
      if (!released) this.anonymous--;
      released = true;
    };
  }

  lease(digests: Iterable<string>): () => void {
    const held = [...digests];
    for (const d of held) this.leases.set(d, (this.leases.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of held) {
        const n = (this.leases.get(d) ?? 1) - 1;
        if (n <= 0) this.leases.delete(d);
        else this.leases.set(d, n);
      }
    };
  }

  // ---- lookup

  /** Resolves a reference, full or short (≥ 4 hex) image id, or repo@digest to an image record. */
  resolve(ref: string): ImageRecord | undefined {
    const st = this.state;
    const bare = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (isDigest(ref) && st.images[ref]) return st.images[ref];
    if (/^[a-f0-9]{4,64}$/.test(bare)) {
      const hits = Object.keys(st.images).filter((id) => id.slice(7).startsWith(bare));
      if (hits.length === 1) return st.images[hits[0]];
      if (hits.length > 1 && bare.length < 64) throw new ImageConflictError(`short id ${bare} is ambiguous`);
    }
    let r: ReturnType<typeof parseReference>;
    try {
      r = parseReference(ref);
    } catch (e) {
      if (/^[a-f0-9]{4,64}$/.test(bare)) return undefined;
      throw e;
    }
    if (r.digest) {
      const id = st.digests[`${repoName(r)}@${r.digest}`];
      if (id) return st.images[id];
      // any image whose manifest has that digest, whatever repository it came from
      return Object.values(st.images).find((i) => i.manifestDigest === r.digest);
    }
    const id = st.tags[formatReference(r)];
    return id ? st.images[id] : undefined;
  }

  get(ref: string): ImageRecord {
    const rec = this.resolve(ref);
    if (!rec) throw new ImageNotFoundError(ref);
    return rec;
  }

  /** Configs are immutable (content-addressed): parsed once, kept for container creates. */
  private readonly configs = new Map<string, ImageConfig>();

  async config(id: Digest): Promise<ImageConfig> {
    let c = this.configs.get(id);
    if (!c) {
      c = parseImageConfig(await this.blobs.read(id));
      if (this.configs.size > 512) this.configs.clear();
      this.configs.set(id, c);
    }
    return structuredClone(c);
  }

  repoTags(id: Digest): string[] {
    return Object.entries(this.state.tags)
      .filter(([, v]) => v === id)
      .map(([k]) => familiarString(parseReference(k)))
      .sort();
  }

  repoDigests(id: Digest): string[] {
    return Object.entries(this.state.digests)
      .filter(([, v]) => v === id)
      .map(([k]) => familiarString(parseReference(k, { defaultTag: false })))
      .sort();
  }

  async list(opts: { all?: boolean; dangling?: boolean } = {}): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const rec of Object.values(this.state.images)) {
      const tags = this.repoTags(rec.id);
      if (opts.dangling && tags.length > 0) continue;
      let labels: Record<string, string> | null = null;
      try {
        labels = (await this.config(rec.id)).config?.Labels ?? null;
      } catch {
        labels = null;
      }
      out.push({
        id: rec.id,
        repoTags: tags,
        repoDigests: this.repoDigests(rec.id),
        created: Math.floor(Date.parse(rec.created) / 1000) || 0,
        size: rec.size,
        labels,
      });
    }
    return out.sort((a, b) => b.created - a.created || compareText(a.id, b.id));
  }

  /** Read-only lower dirs for a container, top layer first, plus the image config. */
  async rootfs(ref: string): Promise<{ id: Digest; layers: string[]; config: ImageConfig }> {
    const rec = this.get(ref);
    const layers = rec.layers.map((l) => this.layers.diffDir(l.diffId)).reverse();
    return { id: rec.id, layers, config: await this.config(rec.id) };
  }

  /**
   * Disk use of the unpacked layers: all of them once (docker's LayersSize), and per image the bytes of its
   * layers that another image uses too (SharedSize).
   */
  async diskUsage(): Promise<{ layersSize: number; sharedSize: Map<Digest, number> }> {
    const users = new Map<string, number>();
    const images = Object.values(this.state.images);
    for (const rec of images)
      for (const d of new Set(rec.layers.map((l) => l.diffId))) users.set(d, (users.get(d) ?? 0) + 1);
    const sizes = new Map<string, number>();
    for (const d of users.keys()) sizes.set(d, (await this.layers.meta(d as Digest))?.contentSize ?? 0);
    let layersSize = 0;
    for (const n of sizes.values()) layersSize += n;
    const sharedSize = new Map<Digest, number>();
    for (const rec of images) {
      let shared = 0;
      for (const d of new Set(rec.layers.map((l) => l.diffId)))
        if ((users.get(d) ?? 0) > 1) shared += sizes.get(d) ?? 0;
      sharedSize.set(rec.id, shared);
    }
    return { layersSize, sharedSize };
  }

  // ---- mutation

  /** Registers an image whose blobs and layers are all present; then points the tags at it. */
  register(img: NewImage): Promise<ImageRecord> {
    return this.mu.run(async () => {
      const config = parseImageConfig(img.config);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== img.layers.length)
        throw new Error(
          `image config lists ${diffIds.length} layers (rootfs.diff_ids) but the manifest has ${img.layers.length}`,
        );
      let size = 0;
      for (const [i, l] of img.layers.entries()) {
        if (l.diffId !== diffIds[i])
          throw new Error(`layer ${i}: diff-id ${l.diffId} does not match the config's ${diffIds[i]}`);
        const meta = await this.layers.meta(l.diffId);
        if (!meta) throw new Error(`layer ${l.diffId} is not unpacked`);
        if (!(await this.blobs.has(l.digest))) throw new Error(`layer blob ${l.digest} is missing`);
        size += meta.contentSize;
      }
      const configDigest = await this.blobs.put(img.config);
      const manifestDigest = await this.blobs.put(img.manifest);
      const now = new Date().toISOString();
      const prev = this.state.images[configDigest];
      const rec: ImageRecord = {
        id: configDigest,
        manifestDigest,
        manifestMediaType: img.manifestMediaType,
        configDigest,
        configMediaType: img.configMediaType,
        layers: img.layers,
        size,
        created: typeof config.created === 'string' ? config.created : now,
        sources: [...new Set([...(prev?.sources ?? []), ...(img.repository ? [img.repository] : [])])],
        lastTagTime: img.tags.length ? now : prev?.lastTagTime,
      };
      const next: IndexState = structuredClone(this.state);
      next.images[rec.id] = rec;
      for (const t of img.tags) next.tags[t] = rec.id;
      if (img.repository) next.digests[`${img.repository}@${manifestDigest}`] = rec.id;
      await this.commit(next);
      return rec;
    });
  }

  /** Records that the image's blobs exist in `repository` (after a push): a mount source and a digest ref. */
  addSource(id: Digest, repository: string, manifestDigest: Digest): Promise<void> {
    return this.mu.run(async () => {
      const next = structuredClone(this.state);
      const rec = next.images[id];
      if (!rec) return;
      if (!rec.sources.includes(repository)) rec.sources.push(repository);
      next.digests[`${repository}@${manifestDigest}`] = id;
      await this.commit(next);
    });
  }

  private async commit(next: IndexState): Promise<void> {
    await this.index.write(next);
    this.state = next;
  }

  /**
   * Commits a state that removes images, then collects their content. On a full disk the index
   * cannot be rewritten before space is freed: then the content only the removed images used is
   * deleted first. That is crash-safe because open() drops images whose content is incomplete.
   */
  private async commitRemoval(next: IndexState): Promise<number> {
    try {
      await this.commit(next);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
      const freed = await this.gcLocked(next);
      await this.commit(next);
      return freed + (await this.gcLocked());
    }
    return this.gcLocked();
  }

  tag(source: string, target: string): Promise<string> {
    return this.mu.run(async () => {
      const rec = this.get(source);
      const r = parseReference(target);
      if (r.digest) throw new Error(`tag: target "${target}" must not contain a digest`);
      const next = structuredClone(this.state);
      next.tags[formatReference(r)] = rec.id;
      next.images[rec.id].lastTagTime = new Date().toISOString();
      await this.commit(next);
      return familiarString(r);
    });
  }

  /**
   * docker rmi semantics: a tag reference untags; the image is deleted when no tag is left (or when
   * removed by id with force). `inUse(id)` tells whether a container uses the image.
   */
  remove(
    ref: string,
    opts: { force?: boolean; inUse?: (id: Digest) => boolean } = {},
  ): Promise<RemoveResult> {
    return this.mu.run(async () => {
      const rec = this.get(ref);
      const next = structuredClone(this.state);
      const res: RemoveResult = { untagged: [], deleted: [] };
      const inUse = opts.inUse?.(rec.id) ?? false;
      const tagsOf = () => Object.keys(next.tags).filter((k) => next.tags[k] === rec.id);
      const digestsOf = () => Object.keys(next.digests).filter((k) => next.digests[k] === rec.id);
      const untag = (map: Record<string, Digest>, key: string) => {
        delete map[key];
        res.untagged.push(familiarString(parseReference(key, { defaultTag: false })));
      };
      if (!this.isIdRef(ref, rec.id)) {
        const r = parseReference(ref);
        const key = r.digest ? `${repoName(r)}@${r.digest}` : formatReference(r);
        const map = r.digest ? next.digests : next.tags;
        if (tagsOf().length + digestsOf().length <= 1 && inUse && !opts.force)
          throw new ImageConflictError(
            `conflict: unable to remove repository reference "${ref}" (must force) - container is using its referenced image ${shortId(rec.id)}`,
          );
        if (map[key] === rec.id) untag(map, key);
        if (tagsOf().length > 0 || inUse) {
          await this.commit(next);
          return res;
        }
      } else {
        if (tagsOf().length > 1 && !opts.force)
          throw new ImageConflictError(
            `conflict: unable to delete ${shortId(rec.id)} (must be forced) - image is referenced in multiple repositories`,
          );
        if (inUse && !opts.force)
          throw new ImageConflictError(
            `conflict: unable to delete ${shortId(rec.id)} (must be forced) - image is being used by a container`,
          );
      }
      for (const t of tagsOf()) untag(next.tags, t);
      for (const d of digestsOf()) untag(next.digests, d);
      if (inUse) {
        // forced: the names go, the image stays (dangling) while a container uses it, as docker
        await this.commit(next);
        return res;
      }
      delete next.images[rec.id];
      res.deleted.push(rec.id);
      await this.commitRemoval(next);
      return res;
    });
  }

  private isIdRef(ref: string, id: Digest): boolean {
    const bare = ref.replace(/^sha256:/, '');
    return (
      /^[a-f0-9]{4,64}$/.test(bare) &&
      id.slice(7).startsWith(bare) &&
      !this.state.tags[formatReference(parseReference(ref))]
    );
  }

  /** Removes dangling images (all unused ones with `all`), then unreferenced layers and blobs. */
  prune(
    opts: { all?: boolean; inUse?: (id: Digest) => boolean } = {},
  ): Promise<{ deleted: Digest[]; untagged: string[]; reclaimed: number }> {
    return this.mu.run(async () => {
      const next = structuredClone(this.state);
      const deleted: Digest[] = [];
      const untagged: string[] = [];
      for (const id of Object.keys(next.images) as Digest[]) {
        const tags = Object.keys(next.tags).filter((k) => next.tags[k] === id);
        if (opts.inUse?.(id)) continue;
        if (tags.length > 0 && !opts.all) continue;
        for (const t of tags) {
          delete next.tags[t];
          untagged.push(familiarString(parseReference(t)));
        }
        for (const d of Object.keys(next.digests).filter((k) => next.digests[k] === id))
          delete next.digests[d];
        delete next.images[id];
        deleted.push(id);
      }
      const reclaimed = await this.commitRemoval(next);
      return { deleted, untagged, reclaimed };
    });
  }

  /** Removes layers and blobs that no image references and no lease holds. Returns bytes freed. */
  gc(): Promise<number> {
    return this.mu.run(() => this.gcLocked());
  }

  /** Removes what neither `state`'s images nor a lease reference. Callers hold `mu`. */
  private async gcLocked(state: IndexState = this.state): Promise<number> {
    if (this.anonymous > 0) return 0;
    const keepBlobs = new Set<string>(this.leases.keys());
    const keepLayers = new Set<string>(this.leases.keys());
    for (const list of Object.values(this.pins))
      for (const d of list) {
        keepBlobs.add(d);
        keepLayers.add(d);
      }
    for (const rec of Object.values(state.images)) {
      keepBlobs.add(rec.manifestDigest);
      keepBlobs.add(rec.configDigest);
      for (const l of rec.layers) {
        keepBlobs.add(l.digest);
        keepLayers.add(l.diffId);
      }
    }
    let freed = 0;
    for (const d of await this.layers.list()) {
      if (keepLayers.has(d)) continue;
      freed += (await this.layers.meta(d))?.contentSize ?? 0;
      await this.layers.remove(d);
    }
    for (const d of await this.blobs.list()) {
      if (keepBlobs.has(d)) continue;
      await this.blobs.delete(d);
    }
    return freed;
  }

  /** How many images use each layer (diff-id): shared layers count once per image. */
  layerRefcounts(): Map<Digest, number> {
    const m = new Map<Digest, number>();
    for (const rec of Object.values(this.state.images))
      for (const d of new Set(rec.layers.map((l) => l.diffId))) m.set(d, (m.get(d) ?? 0) + 1);
    return m;
  }

  all(): ImageRecord[] {
    return Object.values(this.state.images);
  }

  /** Tags (canonical) pointing at an image. */
  tagsOf(id: Digest): string[] {
    return Object.keys(this.state.tags).filter((k) => this.state.tags[k] === id);
  }
}

/** Builds an OCI image manifest for layers and a config already in the store. */
export function buildOciManifest(configDigest: Digest, configSize: number, layers: LayerRef[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: configSize },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
}
