// `image load`: docker-save tarballs (manifest.json) and OCI image layout tarballs (index.json).
// Every file of the archive is streamed into the blob store once (hashed on the way); then the format's
// metadata says which blobs are configs and layers, layers are unpacked and verified against the
// config's diff-ids, and only then are the images registered.
import path from 'node:path';
import { type Digest, isDigest, sha256Of } from '../../common/digest.js';
import { familiarString, formatReference, parseReference } from '../../common/reference.js';
import type { BlobWriter } from './blobstore.js';
import { ingestLayer } from './ingest.js';
import { ociLayerMediaType } from './layerblob.js';
import {
  type ImageManifest,
  MAX_JSON_BYTES,
  parseBoundedJson,
  parseImageConfig,
  parseManifest,
  selectPlatform,
} from './manifest.js';
import { MT } from './mediatypes.js';
import type { LayerRef } from './records.js';
import { buildOciManifest, type ImageStore } from './store.js';
import { readTar } from './tar/reader.js';

export interface LoadResult {
  /** "name:tag" for tagged images, image ids for untagged ones (as docker prints) */
  loaded: { ref?: string; id: Digest }[];
}

export type LoadProgress = (msg: string) => void;

/** docker save of many images has a few entries per layer and image; far fewer than this. */
export const MAX_ARCHIVE_ENTRIES = 1 << 16;

interface FileInfo {
  digest: Digest;
  size: number;
}

export async function loadArchive(
  store: ImageStore,
  src: AsyncIterable<Buffer>,
  progress: LoadProgress = () => {},
): Promise<LoadResult> {
  const files = new Map<string, FileInfo>();
  const links = new Map<string, string>();
  const held: string[] = [];
  let release = store.lease([]);
  const hold = (ids: string[]) => {
    held.push(...ids);
    release();
    release = store.lease(held);
  };
  try {
    for await (const { entry, body } of readTar(src)) {
      // what stays in memory per entry is its name: bounded by a count, not by the input's size
      if (files.size + links.size >= MAX_ARCHIVE_ENTRIES)
        throw new Error(`archive: more than ${MAX_ARCHIVE_ENTRIES} files; not an image archive`);
      const name = path.posix.normalize(entry.name.replace(/^\.?\/+/, '')).replace(/\/$/, '');
      if (name.startsWith('..')) throw new Error(`archive entry "${entry.name}" escapes the archive`);
      if (entry.type === 'symlink' || entry.type === 'hardlink') {
        const target =
          entry.type === 'symlink'
            ? path.posix.normalize(path.posix.join(path.posix.dirname(name), entry.linkname))
            : path.posix.normalize(entry.linkname.replace(/^\.?\/+/, ''));
        links.set(name, target);
        continue;
      }
      if (entry.type !== 'file') continue;
      // every file goes to the blob store as it streams by: memory does not grow with the archive;
      // the few JSON documents are read back from there when needed
      const w: BlobWriter = await store.blobs.writer();
      try {
        for await (const c of body) await w.write(c);
      } catch (e) {
        await w.abort();
        throw e;
      }
      const digest = await w.digest();
      hold([digest]);
      if (await store.blobs.has(digest)) await w.abort();
      else await w.commit(digest);
      files.set(name, { digest, size: entry.size });
    }
    const file = (name: string, what: string): FileInfo => {
      let n = path.posix.normalize(name.replace(/^\.?\/+/, ''));
      for (let i = 0; i < 10 && links.has(n); i++) n = links.get(n)!;
      const f = files.get(n);
      if (!f) throw new Error(`archive: ${what} "${name}" is missing`);
      return f;
    };
    const json = async (name: string, what: string): Promise<unknown> =>
      parseBoundedJson(
        await bytesOf(store, file(name, what), `archive: ${what} "${name}"`),
        `archive: ${what} "${name}"`,
      );
    if (files.has('index.json') && files.has('oci-layout') && !files.has('manifest.json'))
      return await loadOci(store, file, progress, hold);
    if (files.has('manifest.json')) return await loadDockerSave(store, file, json, progress, hold);
    if (files.has('index.json')) return await loadOci(store, file, progress, hold);
    throw new Error(
      'archive: neither a docker save archive (manifest.json) nor an OCI image layout (index.json)',
    );
  } finally {
    release();
    await store.gc(); // drop archive files that are not part of any image (VERSION, legacy json, …)
  }
}

type FileFn = (name: string, what: string) => FileInfo;
type JsonFn = (name: string, what: string) => Promise<unknown>;

/** The bytes of a small archive file (a JSON document), read back from the blob store. */
async function bytesOf(store: ImageStore, f: FileInfo, what: string): Promise<Buffer> {
  if (f.size > MAX_JSON_BYTES)
    throw new Error(`${what}: ${f.size} bytes, more than the ${MAX_JSON_BYTES} allowed`);
  return store.blobs.read(f.digest);
}
type HoldFn = (ids: string[]) => void;

async function unpackLayers(
  store: ImageStore,
  layers: { digest: Digest; diffId: Digest; mediaType?: string; label: string }[],
  progress: LoadProgress,
): Promise<LayerRef[]> {
  const out: LayerRef[] = [];
  for (const l of layers) {
    progress(`Loading layer ${l.diffId.slice(7, 19)}`);
    const r = await ingestLayer(
      store.blobs,
      store.layers,
      store.blobs.stream(l.digest) as AsyncIterable<Buffer>,
      {
        digest: l.digest,
        diffId: l.diffId,
        label: l.label,
      },
    );
    out.push({
      digest: r.digest,
      size: r.size,
      diffId: r.diffId,
      mediaType: l.mediaType ?? (await ociLayerMediaType(store.blobs, r.digest)),
    });
  }
  return out;
}

async function loadDockerSave(
  store: ImageStore,
  file: FileFn,
  json: JsonFn,
  progress: LoadProgress,
  hold: HoldFn,
): Promise<LoadResult> {
  const manifest = await json('manifest.json', 'manifest');
  if (!Array.isArray(manifest)) throw new Error('archive: manifest.json must be a JSON array');
  if (manifest.length === 0) throw new Error('archive: manifest.json lists no images');
  const result: LoadResult = { loaded: [] };
  for (const [i, m] of manifest.entries()) {
    const item = m as { Config?: string; RepoTags?: string[] | null; Layers?: string[] };
    if (typeof item.Config !== 'string') throw new Error(`archive: manifest.json[${i}].Config missing`);
    if (!Array.isArray(item.Layers)) throw new Error(`archive: manifest.json[${i}].Layers must be an array`);
    const cfgFile = file(item.Config, 'config');
    const cfgBytes = await bytesOf(store, cfgFile, `archive: config "${item.Config}"`);
    const config = parseImageConfig(cfgBytes);
    if (config.rootfs.diff_ids.length !== item.Layers.length)
      throw new Error(
        `archive: manifest.json[${i}] has ${item.Layers.length} layers but its config lists ${config.rootfs.diff_ids.length}`,
      );
    hold(config.rootfs.diff_ids);
    const tags = (item.RepoTags ?? []).map((t) => {
      const r = parseReference(t);
      if (r.digest) throw new Error(`archive: manifest.json[${i}].RepoTags: "${t}" has a digest`);
      return formatReference(r);
    });
    const layers = await unpackLayers(
      store,
      item.Layers.map((l, j) => ({
        digest: file(l, 'layer').digest,
        diffId: config.rootfs.diff_ids[j],
        label: `layer ${l}`,
      })),
      progress,
    );
    const manifestBytes = buildOciManifest(cfgFile.digest, cfgFile.size, layers);
    const rec = await store.register({
      manifest: manifestBytes,
      manifestMediaType: MT.ociManifest,
      config: cfgBytes,
      configMediaType: MT.ociConfig,
      layers,
      tags,
    });
    if (tags.length === 0) result.loaded.push({ id: rec.id });
    for (const t of tags) result.loaded.push({ ref: familiarString(parseReference(t)), id: rec.id });
  }
  return result;
}

async function loadOci(
  store: ImageStore,
  file: FileFn,
  progress: LoadProgress,
  hold: HoldFn,
): Promise<LoadResult> {
  // a descriptor names a blob by digest and size: both must match the archive's file
  const blob = (d: Digest, size: number, what: string): FileInfo => {
    const f = file(`blobs/sha256/${d.slice(7)}`, what);
    if (f.digest !== d)
      throw new Error(`archive: ${what} blobs/sha256/${d.slice(7)} has content digest ${f.digest}`);
    if (f.size !== size)
      throw new Error(`archive: ${what} ${d}: the descriptor says ${size} bytes, the blob has ${f.size}`);
    return f;
  };
  const blobJson = (d: Digest, size: number, what: string): Promise<Buffer> =>
    bytesOf(store, blob(d, size, what), `archive: ${what} ${d}`);
  const indexFile = file('index.json', 'index');
  let index: ReturnType<typeof parseManifest>;
  try {
    index = parseManifest(await bytesOf(store, indexFile, 'archive: index.json'), MT.ociIndex);
  } catch (e) {
    throw new Error(`archive: index.json: ${(e as Error).message}`);
  }
  if (index.kind !== 'index') throw new Error('archive: index.json is not an image index');
  if (index.manifests.length === 0)
    throw new Error('archive: index.json lists no images (manifests is empty)');
  const result: LoadResult = { loaded: [] };
  for (const desc of index.manifests) {
    const ann = desc.annotations ?? {};
    const refName = ann['io.containerd.image.name'] ?? ann['org.opencontainers.image.ref.name'];
    // io.containerd.image.name is a full reference; ref.name is often only a tag ("latest"), which
    // cannot name an image by itself: such images load untagged, as docker does
    const named = ann['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined);
    const tag = named ? formatReference(parseReference(named)) : undefined;
    let mBytes = await blobJson(desc.digest, desc.size, 'manifest');
    let mDigest = desc.digest;
    let parsed = parseManifest(mBytes, desc.mediaType);
    if (parsed.kind === 'index') {
      const pick = selectPlatform(parsed);
      mBytes = await blobJson(pick.digest, pick.size, 'manifest');
      mDigest = pick.digest;
      parsed = parseManifest(mBytes, pick.mediaType);
      if (parsed.kind !== 'manifest') throw new Error(`archive: ${pick.digest} is a nested index`);
    }
    const m = parsed as ImageManifest;
    if (sha256Of(mBytes) !== mDigest) throw new Error(`archive: manifest ${mDigest} digest mismatch`);
    const cfgBytes = await blobJson(m.config.digest, m.config.size, 'config');
    const config = parseImageConfig(cfgBytes);
    hold(config.rootfs.diff_ids);
    if (config.rootfs.diff_ids.length !== m.layers.length)
      throw new Error(
        `archive: manifest ${mDigest} has ${m.layers.length} layers, its config ${config.rootfs.diff_ids.length}`,
      );
    const layers = await unpackLayers(
      store,
      m.layers.map((l, j) => {
        if (!isDigest(l.digest)) throw new Error(`archive: layer ${j}: bad digest`);
        blob(l.digest, l.size, 'layer');
        return {
          digest: l.digest,
          diffId: config.rootfs.diff_ids[j],
          mediaType: l.mediaType,
          label: `layer ${l.digest}`,
        };
      }),
      progress,
    );
    const rec = await store.register({
      manifest: mBytes,
      manifestMediaType: m.mediaType,
      config: cfgBytes,
      configMediaType: m.config.mediaType,
      layers,
      tags: tag ? [tag] : [],
    });
    result.loaded.push(tag ? { ref: familiarString(parseReference(tag)), id: rec.id } : { id: rec.id });
  }
  return result;
}
