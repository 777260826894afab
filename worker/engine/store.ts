// Container records on disk: <dataRoot>/containers/<id>/container.json, written atomically
// (tmp + fsync + rename) so a crash leaves the old or the new record, never half of one.
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from './types.js';

export const RECORD_FILE = 'container.json';

/** What the engine keeps about a container beyond the inspect view. */
export interface ContainerRecord extends Container {
  cgroupsPath: string;
  /** Overlay dirs when the rootfs is made of layers. */
  overlay?: { mountpoint: string; upper: string; work: string };
  /** True once `shoal-runtime create` succeeded for the current run and its state was not yet deleted. */
  runtimeCreated: boolean;
}

export function containersDir(dataRoot: string): string {
  return join(dataRoot, 'containers');
}

export function containerDir(dataRoot: string, id: string): string {
  return join(containersDir(dataRoot), id);
}

/** Writes `data` to `path` atomically and durably. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // fsync the directory so the rename itself survives a crash.
  const dfd = openSync(join(path, '..'), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function saveRecord(dataRoot: string, rec: ContainerRecord): void {
  writeFileAtomic(join(containerDir(dataRoot, rec.id), RECORD_FILE), JSON.stringify(rec, null, 1));
}

/**
 * Every record under dataRoot, plus the ids of directories without a readable record
 * (a create interrupted by a crash) so the caller can clean them up.
 */
export function loadRecords(dataRoot: string): { records: ContainerRecord[]; orphans: string[] } {
  const records: ContainerRecord[] = [];
  const orphans: string[] = [];
  let ids: string[];
  try {
    ids = readdirSync(containersDir(dataRoot));
  } catch {
    return { records, orphans };
  }
  for (const id of ids) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    try {
      records.push(JSON.parse(readFileSync(join(containerDir(dataRoot, id), RECORD_FILE), 'utf8')));
    } catch {
      orphans.push(id);
    }
  }
  return { records, orphans };
}
