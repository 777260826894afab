// The local volume driver: <dataRoot>/volumes/<name>/_data holds the content and
// <dataRoot>/volumes/<name>/volume.json the metadata (written atomically, last: a directory without
// it is a create cut short and is removed at open). Who uses a volume is not stored here: the
// engine answers it from its container records (usersOf), plus the holds of creates in flight.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBoundedJson } from '../../../common/bounded-json.js';
import { compareText } from '../../../common/compare.js';
import { ConflictError, EngineError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { writeFileAtomic } from '../store.js';
import { ANONYMOUS_LABEL, checkVolumeName, type VolumeFilters, volumeMatches } from './names.js';

export const META_FILE = 'volume.json';

export interface Volume {
  name: string;
  driver: 'local';
  /** <dataRoot>/volumes/<name>/_data */
  mountpoint: string;
  /** RFC3339 (seconds). */
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Made for `-v /path`, an image VOLUME or a `--mount` without a source: `rm -v` and `--rm` remove it. */
  anonymous: boolean;
}

export interface VolumeCreateOptions {
  /** Absent: an anonymous volume with a random 64-hex name. */
  name?: string;
  driver?: string;
  driverOpts?: Record<string, string> | null;
  labels?: Record<string, string> | null;
}

export interface VolumeStoreOptions {
  dataRoot: string;
  now: () => Date;
  randomName: () => string;
  /** Ids of the containers whose mounts name this volume. */
  usersOf: (name: string) => string[];
}

export class VolumeStore {
  readonly root: string;
  private readonly volumes = new Map<string, Volume>();
  /** Volumes a create in flight is about to mount (name → count), so a concurrent rm refuses. */
  private readonly holds = new Map<string, number>();
  private readonly removing = new Set<string>();
  /** Volumes whose directories are still being made: a second create of the name waits for them. */
  private readonly making = new Map<string, Promise<void>>();
  /** Per-volume queue for work that must not overlap (the copy-up into a new volume). */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: VolumeStoreOptions) {
    this.root = join(opts.dataRoot, 'volumes');
    // Like the rest of the data root: other users must not reach volume content.
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    chmodSync(this.root, 0o700); // an older or hand-made root is fixed too
    for (const d of readdirSync(this.root, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const dir = join(this.root, d.name);
      try {
        const meta = parseBoundedJson(readFileSync(join(dir, META_FILE), 'utf8')) as Volume;
        if (meta.name !== d.name) throw new Error('name mismatch');
        this.volumes.set(d.name, { ...meta, mountpoint: join(dir, '_data') });
        // A copy-up cut short leaves its staging directory beside _data (copy-up.ts).
        for (const e of readdirSync(dir))
          if (e.startsWith('_data.copy-')) rmSync(join(dir, e), { recursive: true, force: true });
      } catch {
        // No (readable) metadata: a create that never finished. Its _data was never handed out.
        if (!existsSync(join(dir, META_FILE))) rmSync(dir, { recursive: true, force: true });
        else console.error(`engine: volume ${d.name}: unreadable ${META_FILE}, left alone`);
      }
    }
  }

  /** Creates (or finds) a volume and holds it in the same step, so no prune or rm slips in between. */
  async acquire(o: VolumeCreateOptions): Promise<{ volume: Volume; created: boolean; release: () => void }> {
    let release: () => void = () => {};
    const made = await this.make(o, (name) => {
      release = this.hold(name);
    });
    return { ...made, release };
  }

  /** Creates a volume, or returns the existing one of that name (as dockerd). */
  create(o: VolumeCreateOptions = {}): Promise<{ volume: Volume; created: boolean }> {
    return this.make(o, () => {});
  }

  /** create, calling `ready` synchronously with the name just before resolving. */
  private async make(
    o: VolumeCreateOptions,
    ready: (name: string) => void,
  ): Promise<{ volume: Volume; created: boolean }> {
    const driver = o.driver || 'local';
    if (driver !== 'local')
      throw new EngineError(
        'not_found',
        `error looking up volume plugin ${driver}: plugin "${driver}" not found (only the local driver is available)`,
        { field: 'Driver' },
      );
    const opts = o.driverOpts ?? {};
    if (Object.keys(opts).length > 0)
      throw new InvalidArgumentError(
        'DriverOpts',
        `the local driver takes no options here (got ${Object.keys(opts).join(', ')})`,
      );
    const anonymous = o.name === undefined || o.name === '';
    const name = anonymous ? this.opts.randomName() : checkVolumeName(o.name as string);
    if (this.removing.has(name)) throw new ConflictError(`volume ${name} is being removed`);
    const existing = this.volumes.get(name);
    if (existing) {
      await this.making.get(name);
      if (!this.volumes.has(name)) return this.make(o, ready); // the first create failed: try ourselves
      ready(name);
      return { volume: structuredClone(existing), created: false };
    }
    const dir = join(this.root, name);
    const volume: Volume = {
      name,
      driver: 'local',
      mountpoint: join(dir, '_data'),
      createdAt: this.opts
        .now()
        .toISOString()
        .replace(/\.\d+Z$/, 'Z'),
      labels: { ...(o.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) },
      options: {},
      anonymous,
    };
    // Reserved before the awaits: a second create of the name waits for this one and returns it.
    this.volumes.set(name, volume);
    const making = (async () => {
      try {
        await mkdir(dir, { mode: 0o700 });
        await mkdir(volume.mountpoint, { mode: 0o755 });
        await writeFileAtomic(join(dir, META_FILE), JSON.stringify(volume, null, 1));
      } catch (e) {
        this.volumes.delete(name);
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
    })();
    this.making.set(
      name,
      making.catch(() => {}),
    );
    try {
      await making;
    } finally {
      this.making.delete(name);
    }
    ready(name);
    return { volume: structuredClone(volume), created: true };
  }

  get(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return structuredClone(v);
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  /** Containers using the volume, plus a marker per create in flight. */
  usersOf(name: string): string[] {
    const users = this.opts.usersOf(name);
    return (this.holds.get(name) ?? 0) > 0 ? [...users, '(a container being created)'] : users;
  }

  list(filters: VolumeFilters = {}): Volume[] {
    return [...this.volumes.values()]
      .filter((v) => !this.removing.has(v.name))
      .filter((v) => volumeMatches(v, this.usersOf(v.name).length > 0, filters))
      .sort((a, b) => compareText(a.name, b.name))
      .map((v) => structuredClone(v));
  }

  /** Runs fn after any earlier fn queued for the same volume (two creates filling one new volume). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(name) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => {});
    this.queues.set(name, tail);
    tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return run;
  }

  /** Marks the volume as about to be mounted; the returned function releases the hold. */
  hold(name: string): () => void {
    if (!this.volumes.has(name) || this.removing.has(name))
      throw new NotFoundError(`get ${name}: no such volume`);
    this.holds.set(name, (this.holds.get(name) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(name) ?? 1) - 1;
      if (n <= 0) this.holds.delete(name);
      else this.holds.set(name, n);
    };
  }

  /**
   * Removes the volume and its content. In use: a conflict naming the containers, as dockerd
   * ("remove NAME: volume is in use - [ids]"); force does not override that (dockerd's force only
   * hides a missing volume).
   */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = this.volumes.get(name);
    if (!v || this.removing.has(name)) {
      if (opts.force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    const users = this.usersOf(name);
    if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    this.removing.add(name);
    try {
      const dir = join(this.root, name);
      // Metadata first: a crash in the middle leaves a directory that open() clears.
      await rm(join(dir, META_FILE), { force: true });
      await rm(dir, { recursive: true, force: true });
      this.volumes.delete(name);
    } finally {
      this.removing.delete(name);
    }
  }

  /** Removes every unused volume the filters select (API 1.41: named ones too); names and bytes freed. */
  async prune(filters: VolumeFilters = {}): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of this.list({ ...filters, dangling: true })) {
      const size = await diskUsage(v.mountpoint);
      try {
        await this.remove(v.name);
      } catch (e) {
        if (e instanceof ConflictError || e instanceof NotFoundError) continue; // taken meanwhile
        throw e;
      }
      deleted.push(v.name);
      reclaimed += size;
    }
    return { deleted, reclaimed };
  }

  /** Bytes under the volume's _data (for `system df` and prune). */
  size(name: string): Promise<number> {
    return diskUsage(this.get(name).mountpoint);
  }
}

/** Apparent size of the regular files under dir (symlinks not followed). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop() as string;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}
