// Turns a container's mount plan into host paths: volumes are created when missing (a random name
// for anonymous ones) and filled from the image (copy-up) when new and empty, -v host paths are
// created when missing (as docker's -v; --mount refuses). Each volume is held until the container's
// record names it, so a concurrent `volume rm` refuses; `undo` removes what this create made.
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { EngineError } from '../errors.js';
import { type MountRequest, type ResolvedMount, shouldCopyUp } from '../spec/mounts.js';
import { rootfsResolver } from '../spec/rootfs-files.js';
import { copyUp } from './copy-up.js';
import type { VolumeStore } from './store.js';

export interface ResolvedMounts {
  mounts: ResolvedMount[];
  /** Drops the holds (once the container is registered, or after a failure). */
  release: () => void;
  /** Removes the volumes this call created (after a failed create). */
  undo: () => Promise<void>;
}

export async function resolveMounts(
  store: VolumeStore,
  plan: readonly MountRequest[],
  layers: readonly string[],
): Promise<ResolvedMounts> {
  const releases: (() => void)[] = [];
  const created: string[] = [];
  const release = () => {
    for (const r of releases.splice(0)) r();
  };
  const undo = async () => {
    release();
    for (const name of created.splice(0)) await store.remove(name, { force: true }).catch(() => {});
  };
  const inImage = rootfsResolver(layers);
  const mounts: ResolvedMount[] = [];
  try {
    for (const req of plan) {
      if (req.kind === 'bind') {
        if (!existsSync(req.source)) {
          if (!req.createSource)
            throw new EngineError(
              'invalid_argument',
              `invalid mount config for type "bind": bind source path does not exist: ${req.source}`,
              { field: req.field },
            );
          await mkdir(req.source, { recursive: true, mode: 0o755 });
        }
        mounts.push({
          type: 'bind',
          source: req.source,
          destination: req.destination,
          readOnly: req.readOnly,
          propagation: req.propagation,
          mode: req.mode,
        });
        continue;
      }
      const target = inImage(req.destination);
      if (target?.kind === 'file')
        throw new EngineError(
          'invalid_argument',
          `cannot mount volume over existing file, file exists ${req.destination}`,
          { field: req.field },
        );
      const made = await store.create(
        req.name ? { name: req.name, labels: req.labels } : { labels: req.labels },
      );
      const volume = made.volume;
      if (made.created) created.push(volume.name);
      releases.push(store.hold(volume.name));
      await store.exclusive(volume.name, async () => {
        const volumeEmpty = (await readdir(volume.mountpoint)).length === 0;
        if (
          shouldCopyUp({ noCopy: req.noCopy, volumeEmpty, imagePath: target ? 'dir' : 'missing' }) &&
          target
        )
          await copyUp(layers, target.path, volume.mountpoint);
      });
      mounts.push({
        type: 'volume',
        source: volume.mountpoint,
        destination: req.destination,
        readOnly: req.readOnly,
        propagation: 'rprivate',
        mode: req.mode,
        name: volume.name,
        driver: volume.driver,
      });
    }
  } catch (e) {
    await undo();
    throw e;
  }
  return { mounts, release, undo };
}
