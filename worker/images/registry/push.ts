// Push: each blob is skipped when the registry has it (HEAD), mounted from another repository of the
// same registry when known, else uploaded (monolithic when small, chunked PATCHes when large);
// the manifest goes last, so the registry never names an image whose blobs are missing.
import type { Digest } from '../../../common/digest.js';
import { shortId } from '../../../common/digest.js';
import { familiarName, parseReference, repoName } from '../../../common/reference.js';
import { noProgress, type ProgressSink, parallel } from '../progress.js';
import type { ImageStore } from '../store.js';
import { type ClientOptions, RegistryClient } from './client.js';

export interface PushOptions extends ClientOptions {
  progress?: ProgressSink;
  /** blobs up to this size go in one PUT; larger ones in PATCH chunks of this size (default 8 MiB) */
  chunkSize?: number;
  concurrency?: number;
}

export interface PushResult {
  digest: Digest;
  size: number;
  /** per blob: what happened */
  blobs: Record<string, 'exists' | 'mounted' | 'uploaded'>;
}

async function* fileChunks(src: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let buf: Buffer[] = [];
  let n = 0;
  for await (const c of src) {
    buf.push(c);
    n += c.length;
    while (n >= size) {
      const all = Buffer.concat(buf);
      yield all.subarray(0, size);
      buf = [all.subarray(size)];
      n -= size;
    }
  }
  if (n > 0) yield Buffer.concat(buf);
}

export async function pushImage(
  store: ImageStore,
  refString: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const ref = parseReference(refString);
  if (ref.digest) throw new Error(`push: "${refString}" names a digest; push a tag`);
  const rec = store.get(refString);
  const progress = opts.progress ?? noProgress;
  const client = new RegistryClient(ref.domain, ref.path, opts);
  const chunkSize = opts.chunkSize ?? 8 << 20;
  const target = repoName(ref);
  progress({
    status: `The push refers to repository [${repoName(ref).replace(/^docker\.io\//, 'docker.io/')}]`,
  });
  const mountFrom = rec.sources
    .map((s) => parseReference(s, { defaultTag: false }))
    .filter((s) => s.domain === ref.domain && repoName(s) !== target)
    .map((s) => s.path);
  const blobs: { digest: Digest; size: number }[] = [
    ...rec.layers.map((l) => ({ digest: l.digest, size: l.size })),
    { digest: rec.configDigest, size: (await store.blobs.read(rec.configDigest)).length },
  ];
  const result: PushResult['blobs'] = {};
  await parallel(
    rec.layers.map((l) => l.digest),
    8,
    async (d) => {
      progress({ status: 'Preparing', id: shortId(d) });
    },
  );
  await parallel(blobs, opts.concurrency ?? 3, async ({ digest, size }) => {
    const id = shortId(digest);
    if (await client.hasBlob(digest, client.pushScope())) {
      result[digest] = 'exists';
      progress({ status: 'Layer already exists', id });
      return;
    }
    let location: string | undefined;
    for (const from of mountFrom) {
      const m = await client.mountBlob(digest, from);
      if (m === true) {
        result[digest] = 'mounted';
        progress({ status: `Mounted from ${familiarName(parseReference(`${ref.domain}/${from}`))}`, id });
        return;
      }
      location = m; // the registry opened a normal upload instead
      break;
    }
    location ??= await client.startUpload();
    if (size <= chunkSize) {
      await client.putBlob(location, digest, await store.blobs.read(digest));
    } else {
      await client.putBlobChunked(
        location,
        digest,
        fileChunks(store.blobs.stream(digest) as AsyncIterable<Buffer>, chunkSize),
        (sent) => progress({ status: 'Pushing', id, progressDetail: { current: sent, total: size } }),
      );
    }
    result[digest] = 'uploaded';
    progress({ status: 'Pushed', id });
  });
  const manifest = await store.blobs.read(rec.manifestDigest);
  await client.putManifest(ref.tag ?? 'latest', rec.manifestMediaType, manifest);
  await store.addSource(rec.id, target, rec.manifestDigest);
  progress({ status: `${ref.tag ?? 'latest'}: digest: ${rec.manifestDigest} size: ${manifest.length}` });
  return { digest: rec.manifestDigest, size: manifest.length, blobs: result };
}
