// Where a container's root filesystem comes from: a directory used as is, or read-only image
// layers under a per-container overlay (upper/work in the container's directory), described to
// the runtime by the org.shoal.rootfs.* annotations (native/PROTOCOL.md).
import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { InvalidArgumentError } from './errors.js';
import type { ImageConfig, RootfsSource } from './types.js';

export interface OverlayDirs {
  mountpoint: string;
  upper: string;
  work: string;
}

export interface RootfsPlan {
  /** Directories to read image files through, top first. */
  layers: string[];
  /** root.path of the spec. */
  rootPath: string;
  overlay?: OverlayDirs;
  imageConfig?: ImageConfig;
  annotations: Record<string, string>;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Checks the source and lays out the overlay under `containerDir` (nothing is created here). */
export function planRootfs(source: RootfsSource | undefined, containerDir: string): RootfsPlan {
  if (!source) throw new InvalidArgumentError('rootfs', 'a rootfs directory or image layers are required');
  if ('dir' in source) {
    if (!isAbsolute(source.dir))
      throw new InvalidArgumentError('rootfs', `${source.dir} is not an absolute path`);
    if (!isDir(source.dir))
      throw new InvalidArgumentError('rootfs', `rootfs directory ${source.dir} does not exist`);
    return { layers: [source.dir], rootPath: source.dir, annotations: {} };
  }
  if (!Array.isArray(source.layers) || source.layers.length === 0)
    throw new InvalidArgumentError('rootfs', 'an image needs at least one layer');
  for (const l of source.layers) {
    if (!isAbsolute(l) || !isDir(l))
      throw new InvalidArgumentError('rootfs', `image layer ${l} does not exist`);
    // overlayfs option syntax: these would split the lowerdir list.
    if (l.includes(':') || l.includes(','))
      throw new InvalidArgumentError('rootfs', `layer path ${l} contains ":" or ","`);
  }
  // An image may hold the same layer twice; overlayfs refuses a lowerdir named twice. Keeping only
  // the topmost occurrence changes nothing: whatever the lower copy holds, the upper copy of the
  // same content has already decided (same files, same whiteouts, same opaque dirs).
  const layers = [...new Set(source.layers)];
  const overlay = {
    mountpoint: join(containerDir, 'rootfs'),
    upper: join(containerDir, 'upper'),
    work: join(containerDir, 'work'),
  };
  return {
    layers,
    rootPath: overlay.mountpoint,
    overlay,
    imageConfig: source.imageConfig,
    annotations: {
      'org.shoal.rootfs.lowerdirs': layers.join(':'),
      'org.shoal.rootfs.upperdir': overlay.upper,
      'org.shoal.rootfs.workdir': overlay.work,
    },
  };
}
