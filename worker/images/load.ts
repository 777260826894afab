// `image load`: docker-save tarballs (manifest.json) and OCI image layout tarballs (index.json).
// Every file of the archive is streamed into the blob store once (hashed on the way); then the format's
// metadata says which blobs are configs and layers, layers are unpacked and verified against the
// config's diff-ids, and only then are the images registered.
import path from 'node:path';
import type { BlobWriter } from './blobstore.js';
import { type Digest, isDigest, sha256Of } from './digest.js';
import { ingestLayer } from './ingest.js';
import { ociLayerMediaType } from './layerblob.js';
import { type ImageManifest, parseImageConfig, parseManifest, selectPlatform } from './manifest.js';
import { MT } from './mediatypes.js';
import type { LayerRef } from './records.js';
import { familiarString, formatReference, parseReference } from './reference.js';
import { buildOciManifest, type ImageStore } from './store.js';
import { readTar } from './tar/reader.js';

export interface LoadResult {
  /** "name:tag" for tagged images, image ids for untagged ones (as docker prints) */
  loaded: { ref?: string; id: Digest }[];
}

export type LoadProgress = (msg: string) => void;

const SMALL = 4 << 20;

interface FileInfo {
  digest: Digest;
  size: number;
  bytes?: Buffer;
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
      const w: BlobWriter = await store.blobs.writer();
      const small: Buffer[] | null = entry.size <= SMALL ? [] : null;
      try {
        for await (const c of body) {
          await w.write(c);
          small?.push(Buffer.from(c));
        }
      } catch (e) {
        await w.abort();
        throw e;
      }
      const digest = w.currentDigest();
      hold([digest]);
      if (await store.blobs.has(digest)) await w.abort();
      else await w.commit(digest);
      files.set(name, { digest, size: entry.size, bytes: small ? Buffer.concat(small) : undefined });
    }
    const file = (name: string, what: string): FileInfo => {
      let n = path.posix.normalize(name.replace(/^\.?\/+/, ''));
      for (let i = 0; i < 10 && links.has(n); i++) n = links.get(n)!;
      const f = files.get(n);
      if (!f) throw new Error(`archive: ${what} "${name}" is missing`);
      return f;
    };
    const json = (name: string, what: string): unknown => {
      const f = file(name, what);
      if (!f.bytes) throw new Error(`archive: ${what} "${name}" is too large`);
      try {
        return JSON.parse(f.bytes.toString());
      } catch (e) {
        throw new Error(`archive: ${what} "${name}" is not valid JSON: ${(e as Error).message}`);
      }
    };
    if (files.has('index.json') && files.has('oci-layout') && !files.has('manifest.json'))
      return await loadOci(store, file, json, progress, hold);
    if (files.has('manifest.json')) return await loadDockerSave(store, file, json, progress, hold);
    if (files.has('index.json')) return await loadOci(store, file, json, progress, hold);
    throw new Error(
      'archive: neither a docker save archive (manifest.json) nor an OCI image layout (index.json)',
    );
  } finally {
    release();
    await store.gc(); // drop archive files that are not part of any image (VERSION, legacy json, …)
  }
}

type FileFn = (name: string, what: string) => FileInfo;
type JsonFn = (name: string, what: string) => unknown;
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
  const manifest = json('manifest.json', 'manifest');
  if (!Array.isArray(manifest)) throw new Error('archive: manifest.json must be a JSON array');
  const result: LoadResult = { loaded: [] };
  for (const [i, m] of manifest.entries()) {
    const item = m as { Config?: string; RepoTags?: string[] | null; Layers?: string[] };
    if (typeof item.Config !== 'string') throw new Error(`archive: manifest.json[${i}].Config missing`);
    if (!Array.isArray(item.Layers)) throw new Error(`archive: manifest.json[${i}].Layers must be an array`);
    const cfgFile = file(item.Config, 'config');
    if (!cfgFile.bytes) throw new Error(`archive: config "${item.Config}" is too large`);
    const config = parseImageConfig(cfgFile.bytes);
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
      config: cfgFile.bytes,
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
  json: JsonFn,
  progress: LoadProgress,
  hold: HoldFn,
): Promise<LoadResult> {
  const blob = (d: Digest, what: string): FileInfo => {
    const f = file(`blobs/sha256/${d.slice(7)}`, what);
    if (f.digest !== d)
      throw new Error(`archive: ${what} blobs/sha256/${d.slice(7)} has content digest ${f.digest}`);
    return f;
  };
  const blobJson = (d: Digest, what: string): Buffer => {
    const f = blob(d, what);
    if (!f.bytes) throw new Error(`archive: ${what} ${d} is too large`);
    return f.bytes;
  };
  const index = parseManifest(Buffer.from(JSON.stringify(json('index.json', 'index'))), MT.ociIndex);
  if (index.kind !== 'index') throw new Error('archive: index.json is not an image index');
  const result: LoadResult = { loaded: [] };
  for (const desc of index.manifests) {
    const ann = desc.annotations ?? {};
    const refName = ann['io.containerd.image.name'] ?? ann['org.opencontainers.image.ref.name'];
    // io.containerd.image.name is a full reference; ref.name is often only a tag ("latest"), which
    // cannot name an image by itself: such images load untagged, as docker does
    const named = ann['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined);
    const tag = named ? formatReference(parseReference(named)) : undefined;
    let mBytes = blobJson(desc.digest, 'manifest');
    let mDigest = desc.digest;
    let parsed = parseManifest(mBytes, desc.mediaType);
    if (parsed.kind === 'index') {
      const pick = selectPlatform(parsed);
      mBytes = blobJson(pick.digest, 'manifest');
      mDigest = pick.digest;
      parsed = parseManifest(mBytes, pick.mediaType);
      if (parsed.kind !== 'manifest') throw new Error(`archive: ${pick.digest} is a nested index`);
    }
    const m = parsed as ImageManifest;
    if (sha256Of(mBytes) !== mDigest) throw new Error(`archive: manifest ${mDigest} digest mismatch`);
    const cfgBytes = blobJson(m.config.digest, 'config');
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
        blob(l.digest, 'layer');
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
