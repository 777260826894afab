// Pull: manifest (index → linux/amd64) → config → layers, downloaded in parallel and unpacked while
// they stream in; every digest verified; the image is registered only when everything is in place.
import { type Digest, parseDigest, sha256Of, shortId } from '../../../common/digest.js';
import { familiarString, formatReference, parseReference, repoName } from '../../../common/reference.js';
import { layerChunks } from '../chunk-pool.js';
import { ingestLayer } from '../ingest.js';
import {
  type ImageManifest,
  MAX_JSON_BYTES,
  parseImageConfig,
  parseManifest,
  selectPlatform,
} from '../manifest.js';
import { noProgress, type ProgressSink, parallel } from '../progress.js';
import type { ImageRecord } from '../records.js';
import type { ImageStore } from '../store.js';
import { type ClientOptions, RegistryClient, RegistryError } from './client.js';

export interface PullOptions extends ClientOptions {
  progress?: ProgressSink;
  /** concurrent layer downloads (default 3) */
  concurrency?: number;
  /** Milliseconds, for pacing progress (tests give their own clock). */
  now?: () => number;
}

/**
 * A layer's download progress goes out at most this often (and once complete), as dockerd's progress
 * reader paces it: counting bytes instead sent ~270 messages for a 136 MB pull on a fast link, each a
 * JSON message the daemon writes and the client redraws, and too few on a slow one.
 */
const PROGRESS_EVERY_MS = 100;

export interface PullResult {
  image: ImageRecord;
  /** false when the image was already present with the same manifest */
  updated: boolean;
  manifestDigest: Digest;
}

export async function pullImage(
  store: ImageStore,
  refString: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const ref = parseReference(refString);
  const progress = opts.progress ?? noProgress;
  const now = opts.now ?? (() => performance.now());
  const client = new RegistryClient(ref.domain, ref.path, opts);
  const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
  // the first message only once the image exists: a missing one is then a plain HTTP error for the daemon
  let got = await client.getManifest(tagOrDigest);
  progress({
    status: `Pulling from ${familiarString({ ...ref, tag: undefined, digest: undefined })}`,
    id: ref.tag ?? ref.digest,
  });
  let manifestDigest = sha256Of(got.bytes);
  if (ref.digest && manifestDigest !== ref.digest)
    throw new RegistryError(
      `manifest digest mismatch: asked for ${ref.digest}, got ${manifestDigest}`,
      'internal',
    );
  if (got.digest?.startsWith('sha256:') && got.digest !== manifestDigest && !ref.digest)
    throw new RegistryError(
      `manifest digest mismatch: registry says ${got.digest}, content is ${manifestDigest}`,
      'internal',
    );
  let parsed = parseManifest(got.bytes, got.mediaType);
  if (parsed.kind === 'index') {
    const pick = selectPlatform(parsed);
    got = await client.getManifest(pick.digest);
    manifestDigest = sha256Of(got.bytes);
    if (manifestDigest !== pick.digest)
      throw new RegistryError(
        `manifest digest mismatch: index names ${pick.digest}, got ${manifestDigest}`,
        'internal',
      );
    parsed = parseManifest(got.bytes, got.mediaType || pick.mediaType);
    if (parsed.kind !== 'manifest')
      throw new RegistryError(`${pick.digest}: an index inside an index`, 'internal');
  }
  const manifest = parsed as ImageManifest;
  const tags = ref.tag && !ref.digest ? [formatReference(ref)] : [];
  const existing = store.resolve(refString);
  const configBytes = await client.getBlobBytes(manifest.config.digest, manifest.config.size, MAX_JSON_BYTES);
  if (sha256Of(configBytes) !== manifest.config.digest)
    throw new RegistryError(
      `config blob digest mismatch: expected ${manifest.config.digest}, got ${sha256Of(configBytes)}`,
      'internal',
    );
  const config = parseImageConfig(configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length)
    throw new RegistryError(
      `image config lists ${diffIds.length} layers but the manifest has ${manifest.layers.length}`,
      'internal',
    );
  const release = store.lease([
    manifestDigest,
    manifest.config.digest,
    ...manifest.layers.map((l) => l.digest),
    ...diffIds,
  ]);
  try {
    const layers = await parallel(manifest.layers, opts.concurrency ?? 3, async (l, i) => {
      const id = shortId(l.digest);
      const diffId = parseDigest(diffIds[i], `config.rootfs.diff_ids[${i}]`);
      if ((await store.blobs.has(l.digest)) && (await store.layers.paired(diffId, l.digest))) {
        progress({ status: 'Already exists', id });
        return { digest: l.digest, size: l.size, diffId, mediaType: l.mediaType };
      }
      progress({ status: 'Pulling fs layer', id });
      let current = 0;
      let lastReport = Number.NEGATIVE_INFINITY;
      const counted = (async function* () {
        const retrying = (off: number) => progress({ status: `Retrying download at byte ${off}`, id });
        for await (const c of client.blobStream(l.digest, l.size, retrying, layerChunks)) {
          current += c.length;
          const t = now();
          if (t - lastReport >= PROGRESS_EVERY_MS || current === l.size) {
            lastReport = t;
            progress({ status: 'Downloading', id, progressDetail: { current, total: l.size } });
          }
          yield c;
        }
      })();
      const r = await ingestLayer(store.blobs, store.layers, counted, {
        digest: l.digest,
        size: l.size,
        diffId,
        label: `layer ${l.digest}`,
      });
      progress({ status: 'Pull complete', id });
      return { digest: r.digest, size: r.size, diffId: r.diffId, mediaType: l.mediaType };
    });
    const updated = !existing || existing.manifestDigest !== manifestDigest;
    const image = await store.register({
      manifest: got.bytes,
      manifestMediaType: manifest.mediaType,
      config: configBytes,
      configMediaType: manifest.config.mediaType,
      layers,
      tags,
      repository: repoName(ref),
    });
    progress({ status: `Digest: ${manifestDigest}` });
    const name = familiarString(ref);
    progress({
      status: updated
        ? `Status: Downloaded newer image for ${name}`
        : `Status: Image is up to date for ${name}`,
    });
    return { image, updated, manifestDigest };
  } finally {
    release();
  }
}
