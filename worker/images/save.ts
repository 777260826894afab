// `image save`: one tarball that is both a docker-save archive (manifest.json) and an OCI image
// layout (index.json, blobs/), as docker ≥ 25 writes it. Layers are written uncompressed, so their
// blob digests are the diff-ids and the same bytes serve both formats.

import type { Digest } from '../../common/digest.js';
import { sha256Of } from '../../common/digest.js';
import { familiarString, formatReference, parseReference } from '../../common/reference.js';
import { blobCompression, uncompressedStream } from './layerblob.js';
import { MT } from './mediatypes.js';
import type { ImageRecord } from './records.js';
import type { ImageStore } from './store.js';
import { type TarSource, writeTar } from './tar/writer.js';

interface Selected {
  rec: ImageRecord;
  /** canonical tag refs requested for this image */
  tags: string[];
}

function select(store: ImageStore, refs: string[]): Selected[] {
  if (refs.length === 0) throw new Error('save: no image given');
  const byId = new Map<string, Selected>();
  for (const ref of refs) {
    const rec = store.get(ref);
    const sel = byId.get(rec.id) ?? { rec, tags: [] };
    byId.set(rec.id, sel);
    let tag: string | undefined;
    try {
      const r = parseReference(ref);
      const canon = formatReference(r);
      if (!r.digest && store.tagsOf(rec.id).includes(canon)) tag = canon;
    } catch {
      /* an id: saved without names */
    }
    if (tag && !sel.tags.includes(tag)) sel.tags.push(tag);
  }
  return [...byId.values()];
}

export async function* saveArchive(store: ImageStore, refs: string[]): AsyncGenerator<Buffer> {
  const images = select(store, refs);
  yield* writeTar(entries(store, images));
}

async function* entries(store: ImageStore, images: Selected[]): AsyncGenerator<TarSource> {
  const mtime = 0;
  yield { entry: { name: 'blobs/', type: 'dir', mtime } };
  yield { entry: { name: 'blobs/sha256/', type: 'dir', mtime } };
  const written = new Set<string>();
  const dockerManifest: unknown[] = [];
  const indexManifests: unknown[] = [];
  const blobFile = (d: Digest) => `blobs/sha256/${d.slice(7)}`;
  for (const { rec, tags } of images) {
    const configBytes = await store.blobs.read(rec.configDigest);
    if (!written.has(rec.configDigest)) {
      written.add(rec.configDigest);
      yield { entry: { name: blobFile(rec.configDigest), type: 'file', mtime }, body: configBytes };
    }
    const ociLayers: { mediaType: string; digest: Digest; size: number }[] = [];
    for (const l of rec.layers) {
      const meta = await store.layers.meta(l.diffId);
      if (!meta) throw new Error(`save: layer ${l.diffId} of ${rec.id} is missing`);
      ociLayers.push({ mediaType: MT.ociLayer, digest: l.diffId, size: meta.tarSize });
      if (written.has(l.diffId)) continue;
      written.add(l.diffId);
      const plain = (await blobCompression(store.blobs, l.digest)) === 'none';
      yield {
        entry: { name: blobFile(l.diffId), type: 'file', size: meta.tarSize, mtime },
        body: plain
          ? (store.blobs.stream(l.digest) as AsyncIterable<Buffer>)
          : uncompressedStream(store.blobs, l.digest),
      };
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: rec.configDigest, size: configBytes.length },
        layers: ociLayers,
      }),
    );
    const mDigest = sha256Of(manifest);
    if (!written.has(mDigest)) {
      written.add(mDigest);
      yield { entry: { name: blobFile(mDigest), type: 'file', mtime }, body: manifest };
    }
    dockerManifest.push({
      Config: blobFile(rec.configDigest),
      RepoTags: tags.length ? tags.map((t) => familiarString(parseReference(t))) : null,
      Layers: rec.layers.map((l) => blobFile(l.diffId)),
    });
    const desc = { mediaType: MT.ociManifest, digest: mDigest, size: manifest.length };
    if (tags.length === 0) indexManifests.push(desc);
    for (const t of tags) {
      const r = parseReference(t);
      indexManifests.push({
        ...desc,
        annotations: {
          'io.containerd.image.name': t,
          'org.opencontainers.image.ref.name': r.tag ?? 'latest',
        },
      });
    }
  }
  const text = (name: string, v: unknown) => ({
    entry: { name, type: 'file' as const, mtime },
    body: Buffer.from(JSON.stringify(v)),
  });
  yield text('index.json', { schemaVersion: 2, mediaType: MT.ociIndex, manifests: indexManifests });
  yield text('manifest.json', dockerManifest);
  yield text('oci-layout', { imageLayoutVersion: '1.0.0' });
}
