// docker commit: a container's writable layer on top of its image's layers, with the container's
// config changed by Dockerfile instructions (`--change`), as a new image in the store.
import { type Digest, sha256Of } from '../../common/digest.js';
import { ShoalError } from '../../common/errors.js';
import {
  buildOciManifest,
  type ContainerConfig,
  type ImageConfig,
  type ImageStore,
  MT,
} from '../images/index.js';
import { OCI_LAYER } from './builder.js';
import { commitLayer, type LayerOmit } from './diff.js';
import { DockerfileError, parseDockerfile } from './dockerfile.js';
import { applyMeta, type BuildConfig, varsOf } from './instructions.js';

/** The instructions dockerd's commit takes (its validCommitCommands). */
const CHANGE_KEYWORDS = new Set([
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'HEALTHCHECK',
  'LABEL',
  'ONBUILD',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

const bad = (message: string) => new ShoalError('invalid_argument', message, { field: 'changes' });

/** Pure: `config` with each change (one Dockerfile instruction, e.g. `CMD ["sh"]`) applied, in order. */
export function applyChanges(config: BuildConfig, changes: readonly string[]): BuildConfig {
  let c = structuredClone(config);
  for (const change of changes) {
    const keyword = change.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
    if (!CHANGE_KEYWORDS.has(keyword))
      throw bad(`${change.trim().split(/\s+/)[0] || '""'} is not a valid change command`);
    let df: ReturnType<typeof parseDockerfile>;
    try {
      df = parseDockerfile(`FROM scratch\n${change}`, 'changes');
    } catch (e) {
      if (e instanceof DockerfileError) throw bad(`invalid change "${change}": ${e.message}`);
      throw e;
    }
    const ins = df.stages[0]?.instructions ?? [];
    if (ins.length !== 1) throw bad(`invalid change "${change}": one instruction per change`);
    try {
      c = applyMeta(c, ins[0], varsOf(c, new Map()), df.escape).config;
    } catch (e) {
      throw bad(`invalid change "${change}": ${(e as Error).message}`);
    }
  }
  return c;
}

export interface CommitRequest {
  /** The container's image (its config and layers come along); its writable layer is `upper`. */
  imageId: string;
  upper: string;
  /** What of `upper` is not the container's own (the runtime's mount points). */
  omit?: LayerOmit;
  /** The container's config as an image config (dockerd commits container.Config). */
  config: BuildConfig;
  changes: readonly string[];
  author?: string;
  comment?: string;
  /** What the history says made the layer (dockerd: the container's command). */
  createdBy: string;
  /** Canonical references to tag the image with. */
  tags: string[];
  now: Date;
}

/** Commits the layer and registers the image; its id. The base image must still be in the store. */
export async function commitContainer(store: ImageStore, req: CommitRequest): Promise<Digest> {
  const config = applyChanges(req.config, req.changes); // bad changes fail before any write
  const base = store.resolve(req.imageId);
  if (!base)
    throw new ShoalError('not_found', `No such image: ${req.imageId} (the container's image is gone)`);
  const parent: ImageConfig = await store.config(base.id);
  const release = store.leaseAnonymous();
  try {
    const layer = await commitLayer(store, req.upper, 'commit', req.omit);
    const created = req.now.toISOString();
    const doc: ImageConfig = {
      architecture: parent.architecture ?? 'amd64',
      os: parent.os ?? 'linux',
      created,
      ...(req.author ? { author: req.author } : {}),
      config: config as ContainerConfig,
      rootfs: { type: 'layers', diff_ids: [...parent.rootfs.diff_ids, layer.diffId] },
      history: [
        ...(parent.history ?? []),
        {
          created,
          created_by: req.createdBy,
          ...(req.author ? { author: req.author } : {}),
          ...(req.comment ? { comment: req.comment } : {}),
        },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(doc));
    const layers = [...base.layers, layer].map((l) => ({
      ...l,
      mediaType: OCI_LAYER[l.mediaType] ?? l.mediaType,
    }));
    const rec = await store.register({
      manifest: buildOciManifest(sha256Of(bytes), bytes.length, layers),
      manifestMediaType: MT.ociManifest,
      config: bytes,
      configMediaType: MT.ociConfig,
      layers,
      tags: [],
    });
    for (const t of req.tags) await store.tag(rec.id, t);
    return rec.id;
  } finally {
    release();
  }
}
