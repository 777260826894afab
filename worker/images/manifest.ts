// Parsing and validation of image manifests, indexes and configs (OCI and Docker schema 2).
import { type Digest, parseDigest } from '../../common/digest.js';
import { layerCompression, MT } from './mediatypes.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export class UnsupportedMediaTypeError extends Error {}

/** overlayfs takes at most this many lower dirs in one mount (docker refuses deeper images too). */
export const MAX_LAYERS = 125;
/** JSON documents of an image (manifests, indexes, configs) are small; bigger ones are refused. */
export const MAX_JSON_BYTES = 8 << 20;
/** Nesting beyond this would overflow the stack of recursive walks (structuredClone, inspect). */
export const MAX_JSON_DEPTH = 64;

/** Parses a JSON document of an image after checking its size and nesting depth (iteratively). */
export function parseBoundedJson(bytes: Buffer | string, what: string): unknown {
  const text = bytes.toString();
  const size = Buffer.byteLength(text);
  if (size > MAX_JSON_BYTES)
    throw new Error(`${what}: ${size} bytes, more than the ${MAX_JSON_BYTES} allowed`);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH)
        throw new Error(`${what}: nested more than ${MAX_JSON_DEPTH} levels deep`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${field}: expected an object`);
  return v as Record<string, unknown>;
}

export function parseDescriptor(v: unknown, field: string): Descriptor {
  const o = obj(v, field);
  if (typeof o.mediaType !== 'string') throw new Error(`${field}.mediaType: missing`);
  const size = o.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new Error(`${field}.size: expected a non-negative integer`);
  const d: Descriptor = { mediaType: o.mediaType, digest: parseDigest(o.digest, `${field}.digest`), size };
  if (o.platform !== undefined) {
    const p = obj(o.platform, `${field}.platform`);
    d.platform = {
      architecture: String(p.architecture ?? ''),
      os: String(p.os ?? ''),
      variant: p.variant ? String(p.variant) : undefined,
    };
  }
  if (o.annotations !== undefined)
    d.annotations = obj(o.annotations, `${field}.annotations`) as Record<string, string>;
  if (Array.isArray(o.urls)) d.urls = o.urls.map(String);
  return d;
}

/**
 * Parses manifest bytes. The media type comes from the registry's Content-Type when given, otherwise
 * from the document's own mediaType field (OCI manifests may omit it: then the shape decides).
 */
export function parseManifest(bytes: Buffer | string, contentType?: string): ImageManifest | ImageIndex {
  const doc = obj(parseBoundedJson(bytes, 'manifest'), 'manifest');
  const ct = contentType?.split(';')[0].trim();
  let mt =
    typeof doc.mediaType === 'string'
      ? doc.mediaType
      : ct && ct !== 'application/json' && ct !== 'application/octet-stream'
        ? ct
        : '';
  if (!mt) {
    if (doc.schemaVersion === 2 && Array.isArray(doc.manifests)) mt = MT.ociIndex;
    else if (doc.schemaVersion === 2 && doc.config) mt = MT.ociManifest;
  }
  if (
    doc.schemaVersion === 1 ||
    mt === MT.dockerSchema1Signed ||
    mt === 'application/vnd.docker.distribution.manifest.v1+json'
  )
    throw new UnsupportedMediaTypeError('manifest: Docker schema 1 manifests are not supported');
  switch (mt) {
    case MT.ociManifest:
    case MT.dockerManifest: {
      if (doc.schemaVersion !== 2) throw new Error('manifest.schemaVersion: expected 2');
      const config = parseDescriptor(doc.config, 'manifest.config');
      if (!Array.isArray(doc.layers)) throw new Error('manifest.layers: expected an array');
      if (doc.layers.length > MAX_LAYERS)
        throw new Error(`manifest.layers: ${doc.layers.length} layers, more than the ${MAX_LAYERS} allowed`);
      const layers = doc.layers.map((l, i) => parseDescriptor(l, `manifest.layers[${i}]`));
      layers.forEach((l, i) => {
        layerCompression(l.mediaType, `manifest.layers[${i}].mediaType`);
      });
      return {
        kind: 'manifest',
        mediaType: mt,
        config,
        layers,
        annotations: doc.annotations as Record<string, string> | undefined,
      };
    }
    case MT.ociIndex:
    case MT.dockerList: {
      if (!Array.isArray(doc.manifests)) throw new Error('index.manifests: expected an array');
      return {
        kind: 'index',
        mediaType: mt,
        manifests: doc.manifests.map((m, i) => parseDescriptor(m, `index.manifests[${i}]`)),
      };
    }
    default:
      throw new UnsupportedMediaTypeError(`manifest: unsupported media type "${mt || '(none)'}"`);
  }
}

export const HOST_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Picks the manifest for a platform from an index; entries without a platform are skipped. */
export function selectPlatform(index: ImageIndex, want: Platform = HOST_PLATFORM): Descriptor {
  const candidates = index.manifests.filter(
    (m) =>
      (m.mediaType === MT.ociManifest || m.mediaType === MT.dockerManifest) &&
      m.platform?.os === want.os &&
      m.platform?.architecture === want.architecture &&
      (!want.variant || !m.platform.variant || m.platform.variant === want.variant),
  );
  if (candidates.length === 0) {
    const have = index.manifests
      .map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?'))
      .join(', ');
    throw new Error(
      `no manifest for ${want.os}/${want.architecture} in the image index (has: ${have || 'none'})`,
    );
  }
  return candidates[0];
}

/** The image config fields shoal reads (Docker's and OCI's config share this shape). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: string; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  [k: string]: unknown;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    Retries?: number;
  };
  [k: string]: unknown;
}

export function parseImageConfig(bytes: Buffer | string): ImageConfig {
  const doc = obj(parseBoundedJson(bytes, 'image config'), 'image config');
  const rootfs = obj(doc.rootfs, 'image config.rootfs');
  if (rootfs.type !== 'layers')
    throw new Error(`image config.rootfs.type: expected "layers", got "${rootfs.type}"`);
  if (!Array.isArray(rootfs.diff_ids)) throw new Error('image config.rootfs.diff_ids: expected an array');
  if (rootfs.diff_ids.length > MAX_LAYERS)
    throw new Error(
      `image config.rootfs.diff_ids: ${rootfs.diff_ids.length} layers, more than the ${MAX_LAYERS} allowed`,
    );
  const diffIds = rootfs.diff_ids.map((d, i) => parseDigest(d, `image config.rootfs.diff_ids[${i}]`));
  if (doc.config !== undefined && doc.config !== null) obj(doc.config, 'image config.config');
  return { ...(doc as object), rootfs: { type: 'layers', diff_ids: diffIds } } as ImageConfig;
}
