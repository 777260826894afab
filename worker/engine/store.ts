// Container records on disk: <dataRoot>/containers/<id>/container.json, written atomically
// (tmp + fsync + rename) so a crash leaves the old or the new record, never half of one.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { JsonDepthError, parseBoundedJson } from '../../common/bounded-json.js';
import { syncDir } from '../../common/sync-dir.js';
import type { Container } from './types.js';

export const RECORD_FILE = 'container.json';

/** What the engine keeps about a container beyond the inspect view. */
export interface ContainerRecord extends Container {
  cgroupsPath: string;
  /** Overlay dirs when the rootfs is made of layers. */
  overlay?: { mountpoint: string; upper: string; work: string };
  /** True once `shoal-runtime create` succeeded for the current run and its state was not yet deleted. */
  runtimeCreated: boolean;
  /** The user stopped or signalled it since its last start (docker's HasBeenManuallyStopped). */
  manuallyStopped?: boolean;
}

export function containersDir(dataRoot: string): string {
  return join(dataRoot, 'containers');
}

export function containerDir(dataRoot: string, id: string): string {
  return join(containersDir(dataRoot), id);
}

/**
 * Writes `data` to `path` atomically and (unless `durable` is false) durably, off the event loop
 * (fs/promises runs in libuv's thread pool, so fsync never blocks it).
 */
export async function writeFileAtomic(path: string, data: string | Buffer, durable = true): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  if (!durable) return;
  await syncDir(dirname(path)); // so the rename itself survives a crash
}

export function saveRecord(dataRoot: string, rec: ContainerRecord): Promise<void> {
  return writeFileAtomic(join(containerDir(dataRoot, rec.id), RECORD_FILE), JSON.stringify(rec, null, 1));
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
      records.push(
        parseBoundedJson(
          readFileSync(join(containerDir(dataRoot, id), RECORD_FILE), 'utf8'),
        ) as ContainerRecord,
      );
    } catch (err) {
      // A record nested deeper than any the engine writes was not written by it: leave it alone
      // (an orphan's directory and runtime state are removed), and keep it out of memory, where
      // inspect and save would overflow the stack on it.
      if (err instanceof JsonDepthError)
        console.error(`engine: container ${id}: record skipped: ${err.message}`);
      else orphans.push(id);
    }
  }
  return { records, orphans };
}
